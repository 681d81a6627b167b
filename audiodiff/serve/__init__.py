"""`audiodiff serve`: a local web page to generate, listen, compare and inspect (the `serve` extra).

`form` and `configcheck` are torch-free (the config tab never loads torch); `studio` holds the loaded model and
answers generation requests exactly as `audiodiff sample` does; `page` lays the two tabs out with Gradio.
"""
