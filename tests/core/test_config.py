"""`parse_arg`: typed variants and keys for `get_config(arg)`."""

import pytest

from flowvq_jax.core.config import ConfigError, parse_arg

VARIANTS = ("synthetic", "tiny", "mead")


def test_defaults_and_variant():
  c = parse_arg(None, variants=VARIANTS, res=128, bf16=False, lr=1e-3, name="x")
  assert (c.variant, c.res, c.bf16, c.lr, c.name) == ("synthetic", 128, False, 1e-3, "x")
  c = parse_arg(
    "tiny,res=64,bf16=true,lr=3e-4,name=y",
    variants=VARIANTS,
    res=128,
    bf16=False,
    lr=1e-3,
    name="x",
  )
  assert (c.variant, c.res, c.bf16, c.lr, c.name) == ("tiny", 64, True, 3e-4, "y")
  assert isinstance(c.res, int) and isinstance(c.lr, float)


@pytest.mark.parametrize(
  "arg,match",
  [
    ("tiyn", "Unknown config variant 'tiyn'; choose one of: synthetic, tiny, mead"),
    ("tiny,resolution=64", "Unknown config argument 'resolution'; accepted keys: res"),
    ("res=big", "res='big' is not a int"),
    ("tiny,mead", "more than one variant"),
  ],
)
def test_errors_name_the_problem(arg, match):
  with pytest.raises(ConfigError, match=match):
    parse_arg(arg, variants=VARIANTS, res=128)


def test_bool_values_are_checked():
  with pytest.raises(ConfigError, match="not a boolean"):
    parse_arg("bf16=maybe", variants=VARIANTS, bf16=False)
