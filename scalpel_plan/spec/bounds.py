"""The loader's limits as numbers, apart from the ruamel-based guard that enforces them
(``spec.limits``): the fast YAML path reads them too, and imports no ruamel."""

MAX_BYTES = 8 * 1024 * 1024  # a 20,000-stage spec is about 1.1 MB
MAX_DEPTH = 50  # a real release.yml nests 6 deep; snakeyaml's default limit is 50
MAX_ALIAS_NODES = 100_000  # nodes that aliases may add to the document once expanded
MAX_INT_DIGITS = 1000  # Python refuses to convert more than 4,300
