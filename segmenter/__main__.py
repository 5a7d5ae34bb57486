from segmenter.cli import app

app(prog_name="segmenter")
