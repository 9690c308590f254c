"""tenas: training-free neural architecture search (TE-NAS)."""
from tenas.paths import CONF_DIR
from tenas.ntk import ntk_condition_number, ntk_matrix
from tenas.proxies import count_linear_regions, get_proxy, list_proxies, score
from tenas import strategies as _strategies  # noqa: F401,E402  registers the `strategy` config group (Hydra's ConfigStore) for any compose of CONF_DIR

__all__ = ["CONF_DIR", "ntk_condition_number", "ntk_matrix", "count_linear_regions", "get_proxy", "list_proxies", "score"]
__version__ = "0.1.0"
