"""Speed and memory benchmarks (`python -m launch.benchmark`): every timing in the package."""
