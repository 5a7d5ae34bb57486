from segmenter.main import app

if __name__ == "__main__":  # not when a refit process of the worker imports it
    app(prog_name="segmenter")
