from hypothesis import HealthCheck, settings

# property tests run the same under every seed of the CI: no shared example database,
# no deadline (the machine is shared), derandomised so a failure reproduces
settings.register_profile("robustness", deadline=None, database=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.function_scoped_fixture])
settings.load_profile("robustness")
