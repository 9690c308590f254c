"""tenas: training-free neural architecture search (TE-NAS)."""
from tenas.paths import CONF_DIR
from tenas.ntk import ntk_condition_number, ntk_matrix
from tenas.proxies import count_linear_regions, get_proxy, list_proxies, score
from tenas import strategies as _strategies  # noqa: F401,E402  registers the `strategy` config group (Hydra's ConfigStore) for any compose of CONF_DIR
from search_spaces import list_spaces as _list_spaces  # noqa: E402

_list_spaces()  # imports every space, registering its settings (search_space/<name>_settings) for any compose of CONF_DIR

__all__ = ["CONF_DIR", "ntk_condition_number", "ntk_matrix", "count_linear_regions", "get_proxy", "list_proxies", "score"]
__version__ = "0.1.0"
