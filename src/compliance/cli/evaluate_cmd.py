"""Commands of this family are added to the `compliance` group here."""

from __future__ import annotations
