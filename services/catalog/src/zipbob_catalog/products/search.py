"""Full-text search behind one interface: PostgreSQL and SQLite natively (migration 0002),
MariaDB through an inverted index of our own, ``product_search_terms`` (migration 0003).

Any ``q`` is safe: it is cut into word tokens (``\\w+``: letters and digits in any
script) and every query is built from those tokens alone, never from the raw text, so
quotes, ``*``, ``-``, ``+``, ``(``, ``NEAR``, ``:`` or emoji never reach a query parser as
syntax. Every token matches as a word prefix ("wal" finds Walnut); all must match (AND).
A ``q`` without any word in it matches nothing.

Ranking every hit is the expensive part at a million rows (a common word matches a third
of them), so relevance ranks a bounded candidate set: the newest ``CANDIDATES`` matching
rows, walked in index order (cheap), ranked by the backend's own score — ``ts_rank``
(name weighted A over description B), FTS5 ``bm25`` (name x10), and on MariaDB the sum
over the query's tokens of the term's weight in the product (10 per use in the name, 1 in
the description; every candidate holds every token, so there is no idf). All the matches
of a rare word fit; a common word's relevance orders its most recent 1,000 matches.
``total`` still counts every match (up to 10,000; on MariaDB by walking at most 10,001
postings of the rarest token).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Join,
    String,
    and_,
    bindparam,
    column,
    delete,
    event,
    func,
    insert,
    literal_column,
    select,
    table,
    text,
)
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction, attributes
from sqlalchemy.sql.expression import BindParameter, ColumnClause, TextClause

from zipbob_catalog.db import CatalogSession, UtcDateTime
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


# MariaDB's inverted index (migration 0003): one row per (term, product).
TERMS_TABLE = "product_search_terms"
TERMS_WALK_INDEX = "ix_product_search_terms_walk"
TERMS = table(
    TERMS_TABLE,
    column("term", String),
    column("product_id", String),
    column("created_at", UtcDateTime),
    column("weight", Integer),
)
NAME_WEIGHT = 10  # a word in the name counts ten times one in the description
MAX_WEIGHT = 1000


def document_terms(name: str, description: str | None) -> dict[str, int]:
    """Every term of a product's text with its weight (10 per occurrence in the name, 1
    in the description): the same tokens ``search_tokens`` cuts from a query."""
    weights: dict[str, int] = {}
    for text_, weight in ((name, NAME_WEIGHT), (description or "", 1)):
        for match in _WORD.finditer(text_.lower()):
            term = match.group()[:MAX_TOKEN_CHARS]
            weights[term] = min(MAX_WEIGHT, weights.get(term, 0) + weight)
    return weights


def term_rows(
    product_id: str, name: str, description: str | None, created_at: Any
) -> list[dict[str, Any]]:
    """The ``product_search_terms`` rows of one product."""
    return [
        {"term": term, "product_id": product_id, "created_at": created_at, "weight": weight}
        for term, weight in document_terms(name, description).items()
    ]


def postgresql_tsquery(tokens: list[str]) -> str:
    # Tokens hold no quote or operator, so each quoted one is a lexeme with a prefix flag.
    return " & ".join(f"'{token}':*" for token in tokens)


def sqlite_fts_query(tokens: list[str]) -> str:
    # A double-quoted string is a phrase in FTS5, so NEAR/AND/OR/NOT/column: are inert.
    return " AND ".join(f'"{token}"*' for token in tokens)


def matches(dialect: str, tokens: list[str]) -> ColumnElement[bool]:
    """A WHERE clause on ``products`` that keeps the rows matching every token
    (PostgreSQL, SQLite; MariaDB: ``mariadb_matches`` of a plan)."""
    if dialect == "postgresql":
        return literal_column("products.search").op("@@")(_pg_query(tokens))
    rowids = select(FTS.c.rowid).where(sqlite_match_where(tokens))
    return literal_column("products.search_rowid").in_(rowids)


def score(tokens: list[str]) -> ColumnElement[Any]:
    """Relevance of a ``products`` row on PostgreSQL, higher is better."""
    return func.ts_rank(literal_column("products.search"), _pg_query(tokens))


def _pg_query(tokens: list[str]) -> ColumnElement[Any]:
    return func.to_tsquery(
        literal_column("'english'::regconfig"), bindparam("search_q", postgresql_tsquery(tokens))
    )


FTS = table("products_fts", column("rowid", Integer))


def sqlite_match_join() -> Join:
    """FROM clause joining FTS5 hits to their products (bm25 exists only in such a query)."""
    return FTS.join(Product.__table__, literal_column("products.search_rowid") == FTS.c.rowid)


def sqlite_match_where(tokens: list[str]) -> TextClause:
    return text("products_fts MATCH :search_q").bindparams(search_q=sqlite_fts_query(tokens))


SQLITE_SCORE: ColumnClause[float] = literal_column(
    "-bm25(products_fts, 10.0, 1.0)"
)  # bm25: lower is better
SQLITE_FTS_ROWID = FTS.c.rowid


# --- MariaDB: queries over product_search_terms --------------------------------------
#
# A query token is a prefix, so first one round trip asks, per token, which terms it
# covers (a loose index scan: one index dive per distinct term, at most MAX_EXPANSIONS of
# them, in term order, as Elasticsearch's max_expansions), and with two tokens or more a
# second asks InnoDB how many postings each token's stretch of the index holds (EXPLAIN:
# the optimizer's estimate from two dives per range, no row read). The token with the
# fewest postings drives: its terms' postings are walked newest first through ix (term,
# created_at, ...), each checked for the other tokens by primary-key lookups (term,
# product_id) — all inside the other terms' own stretch of the index, which stays cached.
#
# The estimate only chooses the driver. Counting each token's postings up to 20,001
# instead cost 7.7 ms of a 'walnut bowl' search at a million products (the EXPLAIN 0.3 ms),
# for no better a choice: InnoDB's estimates were exact for a word in 20 products and
# 2.2 times the real size for each of 17,000 to 300,000, so their order was the real one.

MAX_EXPANSIONS = 50


@dataclass(frozen=True, slots=True)
class TermPlan:
    """The terms each query token covers, and which token drives the walk."""

    terms: tuple[tuple[str, ...], ...]
    sizes: tuple[int, ...]  # each token's postings as InnoDB estimates them (one token: 0)
    truncated: bool  # a token covered more than MAX_EXPANSIONS terms: a partial answer

    @property
    def driver(self) -> int:
        return min(range(len(self.sizes)), key=lambda i: (self.sizes[i], -len(self.terms[i])))


_PLAN_SQL: dict[int, TextClause] = {}
_SIZES_SQL: dict[int, TextClause] = {}


def _plan_statement(count: int) -> TextClause:
    """Per token (``tok``): the terms its prefix covers, MAX_EXPANSIONS + 1 at most."""
    statement = _PLAN_SQL.get(count)
    if statement is None:
        parts = [
            f"(SELECT {i} AS tok, term FROM {TERMS_TABLE} WHERE term >= :lo{i}"  # noqa: S608
            f" AND term < :hi{i} GROUP BY term ORDER BY term LIMIT {MAX_EXPANSIONS + 1})"
            for i in range(count)
        ]
        statement = _PLAN_SQL[count] = text(" UNION ALL ".join(parts))
    return statement


def _sizes_statement(count: int) -> TextClause:
    """EXPLAIN of one range read per token: its row ``id`` i + 1 estimates token i's size."""
    statement = _SIZES_SQL.get(count)
    if statement is None:
        parts = [
            f"(SELECT 1 FROM {TERMS_TABLE} WHERE term >= :lo{i} AND term < :hi{i})"  # noqa: S608
            for i in range(count)
        ]
        statement = _SIZES_SQL[count] = text("EXPLAIN " + " UNION ALL ".join(parts))
    return statement


def _prefix_bounds(tokens: list[str]) -> dict[str, str]:
    # utf8mb4_bin orders by code point; U+10FFFF sorts after every character a term holds.
    params: dict[str, str] = {}
    for i, token in enumerate(tokens):
        params[f"lo{i}"], params[f"hi{i}"] = token, token + "\U0010ffff"
    return params


async def mariadb_plan(conn: Any, tokens: list[str]) -> TermPlan | None:
    """The plan of a search, or None when some token covers no term (nothing matches)."""
    bounds = _prefix_bounds(tokens)
    rows = (await conn.execute(_plan_statement(len(tokens)), bounds)).all()
    terms: list[list[str]] = [[] for _ in tokens]
    for tok, term in rows:
        terms[int(tok)].append(term)
    if not all(terms):
        return None
    sizes = [0] * len(tokens)
    if len(tokens) > 1:  # a lone token drives whatever its size
        for row in (await conn.execute(_sizes_statement(len(tokens)), bounds)).mappings():
            if row["table"] == TERMS_TABLE and 1 <= int(row["id"]) <= len(tokens):
                sizes[int(row["id"]) - 1] = int(row["rows"] or 0)
    truncated = any(len(found) > MAX_EXPANSIONS for found in terms)
    return TermPlan(
        terms=tuple(tuple(found[:MAX_EXPANSIONS]) for found in terms),
        sizes=tuple(sizes),
        truncated=truncated,
    )


def _lookups(
    plan: TermPlan, token: int, product: str, params: dict[str, Any], what: str
) -> list[str]:
    """SQL: per term of the token, ``SELECT what`` of the product's row for it (PK lookups)."""
    lookups = []
    for m, term in enumerate(plan.terms[token]):
        params[f"t{token}_{m}"] = term
        lookups.append(
            f"(SELECT {what} FROM {TERMS_TABLE} o WHERE o.term = :t{token}_{m}"  # noqa: S608
            f" AND o.product_id = {product})"
        )
    return lookups


def _holds(plan: TermPlan, token: int, product: str, params: dict[str, Any]) -> str:
    """SQL: the product ``product`` (a column) holds one of the token's terms."""
    checks = [f"EXISTS {lookup}" for lookup in _lookups(plan, token, product, params, "1")]
    return checks[0] if len(checks) == 1 else "(" + " OR ".join(checks) + ")"


def _weight_of(plan: TermPlan, token: int, product: str, params: dict[str, Any]) -> str:
    """SQL: the best weight of the token's terms in the product (0 when none)."""
    weights = [
        f"COALESCE({lookup}, 0)" for lookup in _lookups(plan, token, product, params, "o.weight")
    ]
    return weights[0] if len(weights) == 1 else "GREATEST(" + ", ".join(weights) + ")"


def _driver_walks(
    plan: TermPlan,
    params: dict[str, Any],
    *,
    filters_sql: str,
    snapshot: bool,
    limit: int,
    columns: str,
) -> list[str]:
    """Per term of the driving token: its matching postings newest first, ``limit`` of them."""
    driver = plan.driver
    checks = [
        _holds(plan, i, "d.product_id", params) for i in range(len(plan.terms)) if i != driver
    ]
    walks = []
    for m, term in enumerate(plan.terms[driver]):
        params[f"d{m}"] = term
        where = [f"d.term = :d{m}", *checks]
        if snapshot:
            where.append("d.created_at <= :snap")
        join = ""
        if filters_sql:
            join = " JOIN products p ON p.id = d.product_id"
            where.append(filters_sql)
        walks.append(
            f"(SELECT {columns} FROM {TERMS_TABLE} d{join} WHERE {' AND '.join(where)}"  # noqa: S608
            f" ORDER BY d.created_at DESC, d.product_id DESC LIMIT {limit})"
        )
    return walks


def mariadb_candidates(
    plan: TermPlan, *, filters_sql: str, filter_params: dict[str, Any], snapshot: Any
) -> Any:
    """The newest CANDIDATES matches as (cid, ck, score): score = the sum over tokens of the
    best weight of the token's terms in the product (name 10, description 1 per use)."""
    params: dict[str, Any] = dict(filter_params)
    walks = _driver_walks(
        plan,
        params,
        filters_sql=filters_sql,
        snapshot=snapshot is not None,
        limit=CANDIDATES,
        columns="d.product_id AS cid, d.created_at AS ck, d.weight AS w",
    )
    if len(walks) == 1:
        hits = walks[0]
    else:  # a product may hold several of the driver's terms: once, with its best weight
        hits = (
            "(SELECT cid, max(ck) AS ck, max(w) AS w FROM (" + " UNION ALL ".join(walks) + ") u"  # noqa: S608
            f" GROUP BY cid ORDER BY ck DESC, cid DESC LIMIT {CANDIDATES})"
        )
    weights = ["h.w"] + [
        _weight_of(plan, i, "h.cid", params) for i in range(len(plan.terms)) if i != plan.driver
    ]
    # LIMIT: a derived table MariaDB cannot merge into the statement around it, so each
    # candidate's score subqueries run once (merged, the ranking re-ran them).
    statement = text(
        f"SELECT h.cid, h.ck, {' + '.join(weights)} AS score FROM {hits} AS h"  # noqa: S608
        f" LIMIT {CANDIDATES}"
    )
    binds: list[BindParameter[Any]] = [bindparam(name, value) for name, value in params.items()]
    if snapshot is not None:
        binds.append(bindparam("snap", snapshot, type_=UtcDateTime))
    return statement.bindparams(*binds).columns(
        column("cid", String), column("ck", UtcDateTime), column("score", Integer)
    )


def mariadb_count(
    plan: TermPlan, *, filters_sql: str, filter_params: dict[str, Any], cap: int
) -> TextClause:
    """count(*) of at most ``cap`` distinct matching products."""
    params: dict[str, Any] = dict(filter_params)
    walks = _driver_walks(
        plan, params, filters_sql=filters_sql, snapshot=False, limit=cap, columns="d.product_id"
    )
    union = walks[0] if len(walks) == 1 else " UNION ".join(walks)  # UNION: distinct
    return text(f"SELECT count(*) FROM (SELECT 1 FROM ({union}) u LIMIT {cap}) x").bindparams(  # noqa: S608
        *(bindparam(name, value) for name, value in params.items())
    )


def mariadb_matches(plan: TermPlan) -> ColumnElement[bool]:
    """A WHERE clause on ``products``: the row holds a term of every token (other sorts)."""
    clauses = []
    for i, terms in enumerate(plan.terms):
        names = [f"m{i}_{m}" for m in range(len(terms))]
        inner = ", ".join(f":{name}" for name in names)
        clauses.append(
            text(
                f"products.id IN (SELECT product_id FROM {TERMS_TABLE} WHERE term IN ({inner}))"  # noqa: S608
            ).bindparams(*(bindparam(n, t) for n, t in zip(names, terms, strict=True)))
        )
    return and_(*clauses)


# --- MariaDB: keeping product_search_terms in step with every write ---------------------


def _on_mariadb(session: Session) -> bool:
    return session.get_bind().dialect.name in ("mysql", "mariadb")


_PENDING = "zipbob_search_terms_pending"  # session.info: products whose terms to write
_TEXT_KEYS = ("name", "description")


@event.listens_for(CatalogSession, "before_flush")
def _old_terms_go(session: Session, _context: UOWTransaction, _instances: Any) -> None:
    """Before a flush renames or deletes a product: its old terms go, found from the text
    the database still holds (read here, not from attribute history, which does not know
    the old value of an attribute set without being loaded)."""
    if not _on_mariadb(session):
        return
    pending = [p for p in session.new if isinstance(p, Product)]
    changed = [
        p
        for p in session.dirty
        if isinstance(p, Product)
        and any(attributes.get_history(p, key).has_changes() for key in _TEXT_KEYS)
    ]
    gone = [p for p in session.deleted if isinstance(p, Product)]
    connection = session.connection()
    for product in [*changed, *gone]:
        old = connection.execute(
            select(Product.name, Product.description).where(Product.id == product.id)
        ).first()
        terms = list(document_terms(old.name, old.description)) if old is not None else []
        if terms:
            connection.execute(
                delete(TERMS).where(TERMS.c.product_id == product.id, TERMS.c.term.in_(terms))
            )
    session.info.setdefault(_PENDING, []).extend([*pending, *changed])


@event.listens_for(CatalogSession, "after_flush")
def _new_terms_come(session: Session, _context: UOWTransaction) -> None:
    """After the flush (defaults such as created_at are filled in): the new text's terms,
    on the flush's own connection, so a rollback takes them back with the product."""
    products = session.info.pop(_PENDING, [])
    added = [
        entry
        for product in products
        for entry in term_rows(product.id, product.name, product.description, product.created_at)
    ]
    if added:
        session.connection().execute(insert(TERMS), added)


@event.listens_for(CatalogSession, "do_orm_execute")
def _terms_follow_bulk_insert(state: ORMExecuteState) -> Any:
    """``session.execute(insert(Product), rows)`` (bulk loads): the rows' terms too."""
    if not (state.is_insert and state.bind_mapper is not None):
        return None
    if state.bind_mapper.class_ is not Product or not _on_mariadb(state.session):
        return None
    result = state.invoke_statement()
    rows: Any = state.parameters
    listed: list[Any] = rows if isinstance(rows, list) else [rows] if rows else []
    if any("id" not in row or "created_at" not in row for row in listed):
        raise ValueError("a bulk insert of products on MariaDB must give id and created_at")
    added = [
        entry
        for row in listed
        for entry in term_rows(row["id"], row["name"], row.get("description"), row["created_at"])
    ]
    if added:
        state.session.connection().execute(insert(TERMS), added)
    return result
