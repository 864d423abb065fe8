"""Commands run inside an image (`python -m cog.command.<name>`)."""
