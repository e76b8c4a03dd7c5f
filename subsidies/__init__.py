"""Subsidy programs with per-institution caps (Guangzhou style): configured rules, maker-checker grants.

Modules: ``config`` (TOML program definitions validated by pydantic), ``rules`` (pure amount formulas and
cap checks), ``models`` (domain tables), ``books`` (accounts and budget postings), ``service``
(applications, approval, payment, clawback, year-end), ``audit`` (read-only views), ``demo``.
"""
