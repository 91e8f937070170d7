"""A corpus of leaky apps that proves the observation suite finds leaks: one base app
(:mod:`.core`) with a switch per realistic bug, served by Flask and by Starlette."""
