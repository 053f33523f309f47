"""The Keras side of a NetAdapt run: network adapter, proposal worker, analytic costs and
the offline run driver behind `netadapt prune`."""
