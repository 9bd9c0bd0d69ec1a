"""The composition layer: every ``nas-*`` command, the shared runner, ``--help``, the console
entries, the pipeline and its report, the Python API of the commands, and the adapters that
turn a composed config into the libraries' typed settings (:mod:`.settings`).

The only package that imports Hydra/OmegaConf and holds plain config dicts; nothing of the
project imports it. Each command is ``python -m lamoo_nas.commands.<config name>``.
"""
