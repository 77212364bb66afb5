"""One run: generate -> filter -> write or publish (runner, publish), and YAML pipelines."""
