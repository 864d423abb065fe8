"""The starter project `cogpin init` writes (cog.yaml, predict.py, requirements.txt, .dockerignore,
justfile): the files beside this one, copied as they are."""
