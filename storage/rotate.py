"""Re-seal every secret under the newest key, online, a batch at a time."""

from __future__ import annotations

from sqlalchemy import LargeBinary, Table, select, update

from storage.db import Database
from storage.schema import metadata
from storage.vault import Vault, row_context

BATCH = 200


def sealed_columns() -> list[tuple[Table, str]]:
    """Every column marked `info={"sealed": True}`, across all feature tables."""
    found = []
    for table in metadata.sorted_tables:
        for column in table.columns:
            if column.info.get("sealed") and isinstance(column.type, LargeBinary):
                found.append((table, column.name))
    return found


def rotate(db: Database, vault: Vault) -> int:
    """Re-seal values not sealed with the current key. Returns how many changed."""
    changed = 0
    for table, name in sealed_columns():
        pk = next(iter(table.primary_key.columns))
        bound = [table.c[n] for n in table.c[name].info.get("bound_to", ())]
        last = None
        while True:
            with db.session() as session:
                query = select(pk, table.c[name], *bound).order_by(pk).limit(BATCH)
                if last is not None:
                    query = query.where(pk > last)
                rows = session.execute(query).all()
                for row in rows:
                    key, blob = row[0], row[1]
                    if blob is None or vault.is_current(blob):
                        continue
                    context = row_context(table, name, row._mapping)
                    fresh = vault.seal(vault.open(blob, context), context)
                    session.execute(
                        update(table).where(pk == key, table.c[name] == blob).values({name: fresh})
                    )
                    changed += 1
            if len(rows) < BATCH:
                break
            last = rows[-1][0]
    return changed
