"""absl command-line entry points, thin over the library."""
