"""The `segmenter` command line: the edge that reads files, wires the core and prints results."""
