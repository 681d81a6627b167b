"""Schema version 1: the stable-audio-tools dialect as it is read today (unversioned files are version 1)."""
