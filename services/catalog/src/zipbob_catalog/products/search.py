"""Full-text search, native per backend, behind one interface (see migration 0002).

Any ``q`` is safe: it is cut into word tokens (``\\w+``: letters and digits in any
script) and every query is built from those tokens alone, never from the raw text, so
quotes, ``*``, ``-``, ``+``, ``(``, ``NEAR``, ``:`` or emoji never reach a query parser as
syntax. Every token matches as a word prefix ("wal" finds Walnut); all must match (AND).
A ``q`` without any word in it matches nothing.

Ranking every hit is the expensive part at a million rows (a common word matches a third
of them), so relevance ranks a bounded candidate set: the newest ``CANDIDATES`` matching
rows, walked in index order (cheap), ranked by the backend's own score — ``ts_rank``
(name weighted A over description B), InnoDB's boolean-mode relevance, FTS5 ``bm25``
(name x10). All the matches of a rare word fit; a common word's relevance orders its most
recent 1,000 matches. ``total`` still counts every match (up to 10,000).
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Join,
    bindparam,
    column,
    func,
    literal_column,
    select,
    table,
    text,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.sql.expression import TextClause

from zipbob_catalog.products.models import Product

CANDIDATES = 1000
MAX_TOKENS = 8
MAX_TOKEN_CHARS = 60
# Words with at least one letter or digit; underscores stay inside a word (InnoDB keeps
# "_brass" as one token, while PostgreSQL's parser and FTS5 split such a word themselves).
_WORD = re.compile(r"\w*[^\W_]\w*")


def search_tokens(q: str) -> list[str]:
    """The distinct lower-cased word tokens of ``q`` a query is built from (at most 8)."""
    tokens: list[str] = []
    for match in _WORD.finditer(q.lower()):
        token = match.group()[:MAX_TOKEN_CHARS]
        if token not in tokens:
            tokens.append(token)
    return tokens[:MAX_TOKENS]


def postgresql_tsquery(tokens: list[str]) -> str:
    # Tokens hold no quote or operator, so each quoted one is a lexeme with a prefix flag.
    return " & ".join(f"'{token}':*" for token in tokens)


def mariadb_against(tokens: list[str]) -> str:
    # Boolean mode: + = required, * = prefix; the tokens carry no operator characters.
    return " ".join(f"+{token}*" for token in tokens)


def sqlite_fts_query(tokens: list[str]) -> str:
    # A double-quoted string is a phrase in FTS5, so NEAR/AND/OR/NOT/column: are inert.
    return " AND ".join(f'"{token}"*' for token in tokens)


def matches(dialect: str, tokens: list[str]) -> ColumnElement[bool]:
    """A WHERE clause on ``products`` that keeps the rows matching every token."""
    if dialect == "postgresql":
        return literal_column("products.search").op("@@")(_pg_query(tokens))  # type: ignore[no-any-return]
    if dialect in ("mysql", "mariadb"):
        return _mariadb_match(tokens)  # type: ignore[no-any-return]
    rowids = select(FTS.c.rowid).where(sqlite_match_where(tokens))
    return literal_column("products.search_rowid").in_(rowids)


def score(dialect: str, tokens: list[str]) -> ColumnElement[Any]:
    """Relevance of a ``products`` row, higher is better (PostgreSQL and MariaDB)."""
    if dialect == "postgresql":
        return func.ts_rank(literal_column("products.search"), _pg_query(tokens))
    return _mariadb_match(tokens)  # type: ignore[return-value]


def _pg_query(tokens: list[str]) -> ColumnElement[Any]:
    return func.to_tsquery(
        literal_column("'english'::regconfig"), bindparam("search_q", postgresql_tsquery(tokens))
    )


def _mariadb_match(tokens: list[str]) -> Any:
    against = bindparam("search_q", mariadb_against(tokens))
    return mysql.match(Product.name, Product.description, against=against).in_boolean_mode()


FTS = table("products_fts", column("rowid", Integer))


def sqlite_match_join() -> Join:
    """FROM clause joining FTS5 hits to their products (bm25 exists only in such a query)."""
    return FTS.join(Product.__table__, literal_column("products.search_rowid") == FTS.c.rowid)


def sqlite_match_where(tokens: list[str]) -> TextClause:
    return text("products_fts MATCH :search_q").bindparams(search_q=sqlite_fts_query(tokens))


SQLITE_SCORE = literal_column("-bm25(products_fts, 10.0, 1.0)")  # bm25: lower is better
SQLITE_FTS_ROWID = FTS.c.rowid
