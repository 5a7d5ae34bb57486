from segmenter.main import app

app(prog_name="segmenter")
