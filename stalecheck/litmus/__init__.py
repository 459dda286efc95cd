"""Litmus front end: herd7 ``.litmus`` grammar, positioned AST, file discovery."""

from stalecheck.litmus.ast import LitmusTest
from stalecheck.litmus.parser import parse_file, parse_litmus

__all__ = ["LitmusTest", "parse_file", "parse_litmus"]
