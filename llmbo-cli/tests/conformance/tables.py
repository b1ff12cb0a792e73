"""Tables between llmbo and the tools people use (llmbo-cli/tests/tables.rs runs this).

`write DIR N`: the same N input rows written by pyarrow (Parquet, in several row groups),
Polars (Parquet, zstd; Arrow IPC) and DuckDB (CSV): `id` (not in sorted order), `body`, `n`
(int64), `note` (null every 7th row) and `scan`, each row's invoice (bytes read from
DIR/scans/<i>.bin; in the CSV, the file's path).

`check DIR N FILE...`: llmbo's typed result tables read by pyarrow, Polars and DuckDB: N rows,
the ids in input order, the answer's fields as typed columns, each answer holding its own
invoice's facts, nulls and a reason where a record failed, and a DuckDB join back to the
input by id.

`check-vectors DIR N FILE DIMENSIONS`: an embedding table: float32 lists of DIMENSIONS.

Any mismatch raises; the last line printed is `ok` when all held.
"""

import os
import sys

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.ipc as pa_ipc
import pyarrow.parquet as pq


def expected(n):
    ids = [f"doc-{(i * 7919) % 10000:04d}" for i in range(n)]
    bodies = [f"Body text {i}" for i in range(n)]
    ns = list(range(1000, 1000 + n))
    notes = [None if i % 7 == 0 else f"Note {i}." for i in range(n)]
    return ids, bodies, ns, notes


def write(folder, n):
    ids, bodies, ns, notes = expected(n)
    scans = []
    for i in range(n):
        with open(os.path.join(folder, "scans", f"{i}.bin"), "rb") as f:
            scans.append(f.read())
    table = pa.table(
        {
            "id": ids,
            "body": bodies,
            "n": pa.array(ns, pa.int64()),
            "note": pa.array(notes, pa.string()),
            "scan": pa.array(scans, pa.binary()),
        }
    )
    pq.write_table(table, os.path.join(folder, "pyarrow.parquet"), row_group_size=max(1, n // 3))
    frame = pl.from_arrow(table)
    frame.write_parquet(os.path.join(folder, "polars.parquet"), compression="zstd")
    frame.write_ipc(os.path.join(folder, "polars.arrow"))
    paths = [os.path.join(folder, "scans", f"{i}.bin") for i in range(n)]
    with_paths = table.drop_columns(["scan"]).append_column("scan", pa.array(paths))
    con = duckdb.connect()
    con.register("rows", with_paths)
    con.execute(f"COPY rows TO '{os.path.join(folder, 'duckdb.csv')}' (HEADER, DELIMITER ',')")
    print("ok")


def facts(i):
    return (f"INV-{i:05d}", f"Customer {i}", i + 0.5, i % 50, i % 2 == 0)


ANSWER = ["invoice_number", "customer", "total", "quantity", "paid", "tags", "address", "kind"]

ARROW_TYPES = {
    "id": pa.string(),
    "invoice_number": pa.string(),
    "customer": pa.string(),
    "total": pa.float64(),
    "quantity": pa.int64(),
    "paid": pa.bool_(),
    "tags": pa.list_(pa.field("item", pa.string())),
    "address": pa.struct([pa.field("city", pa.string())]),
    "kind": pa.string(),
    "outcome": pa.string(),
    "error": pa.string(),
    "input_tokens": pa.uint64(),
    "output_tokens": pa.uint64(),
    "attempts": pa.uint32(),
    "on_demand": pa.bool_(),
}

POLARS_TYPES = {
    "id": pl.String,
    "invoice_number": pl.String,
    "total": pl.Float64,
    "quantity": pl.Int64,
    "paid": pl.Boolean,
    "tags": pl.List(pl.String),
    "address": pl.Struct({"city": pl.String}),
    "input_tokens": pl.UInt64,
    "attempts": pl.UInt32,
}

DUCKDB_TYPES = {
    "id": "VARCHAR",
    "total": "DOUBLE",
    "quantity": "BIGINT",
    "paid": "BOOLEAN",
    "tags": "VARCHAR[]",
    "address": "STRUCT(city VARCHAR)",
    "input_tokens": "UBIGINT",
    "attempts": "UINTEGER",
}


def read_arrow(path):
    if path.endswith(".parquet"):
        return pq.read_table(path)
    if path.endswith(".arrow"):
        with pa_ipc.open_file(path) as reader:
            return reader.read_all()
    return pa_csv.read_csv(path)


def check_rows(path, rows, n):
    """The rows (dicts) of one reader: ids in order, own facts, nulls where failed."""
    ids = expected(n)[0]
    assert len(rows) == n, f"{path}: {len(rows)} rows, not {n}"
    failed = 0
    for i, row in enumerate(rows):
        assert row["id"] == ids[i], f"{path} row {i}: id {row['id']!r}, not {ids[i]!r}"
        if row["outcome"] == "ok":
            got = (row["invoice_number"], row["customer"], row["total"], row["quantity"], row["paid"])
            assert got == facts(i), f"{path} row {i}: {got} is not its own invoice {facts(i)}"
            assert not row["error"], f"{path} row {i}: an error beside ok"
        else:
            failed += 1
            assert row["error"], f"{path} row {i}: failed without an error"
            for name in ANSWER:
                assert row[name] is None, f"{path} row {i}: {name} is {row[name]!r} on a failed row"
    return failed


def check(folder, n, paths):
    total_failed = None
    for path in paths:
        table = read_arrow(path)
        csv = path.endswith(".csv")
        if not csv:
            for name, arrow_type in ARROW_TYPES.items():
                field = table.schema.field(name)
                assert field.type == arrow_type, f"{path}: pyarrow reads {name} as {field.type}, not {arrow_type}"
        rows = table.to_pylist()
        if csv:
            # CSV has no types: pyarrow infers them; nulls are empty cells.
            for row in rows:
                for name in ANSWER:
                    if row[name] == "":
                        row[name] = None
        failed = check_rows(f"{path} (pyarrow)", rows, n)
        # Polars, the same rows.
        if path.endswith(".parquet"):
            frame = pl.read_parquet(path)
        elif path.endswith(".arrow"):
            frame = pl.read_ipc(path)
        else:
            frame = pl.read_csv(path)
        if not csv:
            for name, dtype in POLARS_TYPES.items():
                assert frame.schema[name] == dtype, f"{path}: Polars reads {name} as {frame.schema[name]}, not {dtype}"
        polars_failed = check_rows(f"{path} (polars)", frame.to_dicts(), n)
        assert polars_failed == failed
        # DuckDB: Parquet and CSV (its Arrow reader is an extension fetched from the network).
        if not path.endswith(".arrow"):
            con = duckdb.connect()
            reader = "read_parquet" if path.endswith(".parquet") else "read_csv"
            relation = f"{reader}('{path}')"
            if not csv:
                types = {name: kind for name, kind, *_ in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()}
                for name, kind in DUCKDB_TYPES.items():
                    assert types[name] == kind, f"{path}: DuckDB reads {name} as {types[name]}, not {kind}"
            names = [d[0] for d in con.execute(f"SELECT * FROM {relation} LIMIT 0").description]
            rows = [dict(zip(names, r)) for r in con.execute(f"SELECT * FROM {relation}").fetchall()]
            duck_failed = check_rows(f"{path} (duckdb)", rows, n)
            assert duck_failed == failed
            # The README's join (`SELECT i.*, o.* EXCLUDE (id) FROM 'contracts.parquet' i JOIN
            # 'parties.parquet' o ON i.doc_id = o.id`): each answer beside its own input row.
            source = os.path.join(folder, "pyarrow.parquet")
            joined = con.execute(
                f"SELECT i.*, o.* EXCLUDE (id) FROM '{source}' i JOIN {relation} o ON i.id = o.id"
            ).fetchall()
            assert len(joined) == n, f"{path}: the join found {len(joined)} of {n}"
            names = [d[0] for d in con.execute(
                f"SELECT i.*, o.* EXCLUDE (id) FROM '{source}' i JOIN {relation} o ON i.id = o.id LIMIT 0"
            ).description]
            joined = [dict(zip(names, r)) for r in joined if dict(zip(names, r))["outcome"] == "ok"]
            assert len(joined) == n - failed, f"{path}: the join found {len(joined)} of {n - failed}"
            for body, number in ((r["body"], r["invoice_number"]) for r in joined):
                i = int(body.rsplit(" ", 1)[1])
                assert number == facts(i)[0], f"{path}: the join put {number} beside row {i}"
        print(f"{path}: {n} rows, {failed} failed, read alike by pyarrow, Polars" + ("" if path.endswith(".arrow") else " and DuckDB"))
        if total_failed is None:
            total_failed = failed
    assert total_failed is not None and 0 < total_failed < n // 2, f"{total_failed} failed of {n}"
    print("ok")


def check_vectors(folder, n, path, dimensions):
    ids = expected(n)[0]
    table = pq.read_table(path)
    field = table.schema.field("embedding")
    wanted = pa.list_(pa.field("item", pa.float32()), dimensions)
    assert field.type == wanted, f"pyarrow reads embedding as {field.type}, not {wanted}"
    assert table.column("id").to_pylist() == ids
    frame = pl.read_parquet(path)
    assert frame.schema["embedding"] == pl.Array(pl.Float32, dimensions), frame.schema["embedding"]
    vectors = frame["embedding"].to_list()
    assert all(v is not None and len(v) == dimensions for v in vectors), "a row without its vector"
    for v in vectors:
        norm = sum(x * x for x in v) ** 0.5
        assert abs(norm - 1.0) < 1e-3, f"norm {norm}"
    con = duckdb.connect()
    # Parquet has no fixed-size list: DuckDB, which does not read the Arrow schema Parquet
    # files carry, sees a list of float32, every one of the same length.
    kind = con.execute(f"SELECT typeof(embedding) FROM read_parquet('{path}') LIMIT 1").fetchone()[0]
    assert kind == "FLOAT[]", f"DuckDB reads embedding as {kind}"
    lengths = con.execute(f"SELECT min(len(embedding)), max(len(embedding)), count(*) FROM read_parquet('{path}')").fetchone()
    assert lengths == (dimensions, dimensions, n), f"DuckDB: lengths {lengths}"
    fixed = con.execute(f"SELECT typeof(embedding::FLOAT[{dimensions}]) FROM read_parquet('{path}') LIMIT 1").fetchone()[0]
    assert fixed == f"FLOAT[{dimensions}]", fixed
    print("ok")


if __name__ == "__main__":
    command, folder, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if command == "write":
        write(folder, n)
    elif command == "check":
        check(folder, n, sys.argv[4:])
    elif command == "check-vectors":
        check_vectors(folder, n, sys.argv[4], int(sys.argv[5]))
    else:
        raise SystemExit(f"unknown command {command}")
