"""Developer checks that anyone can run (`python -m formalpi.devtools.imports`)."""
