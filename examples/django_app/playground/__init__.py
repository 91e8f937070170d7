"""The Playground app: thin Django views over :mod:`examples.common`."""
