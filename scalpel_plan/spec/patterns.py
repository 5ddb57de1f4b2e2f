"""The patterns names and values in release.yml must match: shared by the models, the schema's
messages and the checks, without importing the models (pydantic) for them."""

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]*$"
ADDRESS_PATTERN = r"^[a-z][a-z0-9_]*\.[A-Za-z0-9][A-Za-z0-9_-]*$"
SEMVER_PATTERN = (
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$"
)
ENV_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
FIXED_VERSION_PATTERN = r"^\d+(\.\d+)+\S*$"
ALERT_PATTERN = r"^(console|custom|" + ADDRESS_PATTERN[1:-1] + r")$"
POSTGRES_URL_PATTERN = r"^postgres(ql)?://"
PROJECT_KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._/+-]*$"
