"""Parts of benchmarks/pareto_cifar.py: the device lab, baselines, methods, the
interleaved re-measurement and the report. Run the script, not these modules."""
