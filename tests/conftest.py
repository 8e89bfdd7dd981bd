import os

from hypothesis import HealthCheck, settings

# CI runs with CI=true: derandomised, no deadline (the machine is shared and
# noisy), no example database left behind in the clone.
settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    database=None,
    max_examples=200,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, max_examples=200)
settings.load_profile("ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE", "dev"))
