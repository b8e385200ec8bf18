"""A citizens' assembly's whole cycle, simulated against a running server, and checked.

``await run_scenario(ScenarioConfig(url=..., facilitator_token=...))`` returns a `Report`
(``palabre scenario`` prints it and exits with its `exit_code`). `demo.load_demo` loads
a small living example (``palabre demo``).
"""

from client.scenario.config import ScenarioConfig as ScenarioConfig
from client.scenario.report import Report as Report
from client.scenario.runner import run_scenario as run_scenario
