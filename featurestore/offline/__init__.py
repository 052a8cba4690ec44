"""Training sets: the request (request.py), the spine read from what the user gave
(spine.py), the pure plan (plan.py), running it (training_set.py) and delivering the rows
(output.py)."""
