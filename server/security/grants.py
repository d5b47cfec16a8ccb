"""Roles resolved against the catalog at start: who sees which rows, and may do what.

Every role's grant on a collection is checked once here (its CQL2 filter parsed and run
against the collection, its admin codes looked up), so a wrong rule stops the start
instead of failing requests. A caller's scope is the union of the grants of its roles
and of the public grant, capped by the edition the request reached.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import orjson
import shapely
import shapely.geometry

from config.security import CollectionRule, RoleConfig
from config.settings import Settings
from config.types import Classification
from providers.base import AccessScope, Cql2Filter, ItemsQuery
from providers.catalog import Catalog, Collection, RasterCollection
from providers.cql2 import GEOMETRY_PROPERTY, Cql2Error, parse

ADMIN = "admin"
RANK: dict[str, int] = {"public": 0, "internal": 1, "secret": 2}
PUBLIC_OPERATIONS = frozenset({"read", "tiles"})
WRITE_OPERATIONS = frozenset({"create", "update", "delete"})


class GrantError(ValueError):
    """A role rule that cannot be applied (reported at start)."""


@dataclass(frozen=True)
class Grant:
    """What one role (or the public) may see and do in one collection."""

    operations: frozenset[str]
    region: shapely.Geometry | None = None  # CRS84
    filter: Cql2Filter | None = None
    properties: frozenset[str] | None = None

    @property
    def all_rows(self) -> bool:
        """Whether the grant covers every row."""
        return self.region is None and self.filter is None

    def condition(self) -> Any:
        """The grant's row condition as CQL2-JSON (for OR-ing grants together)."""
        parts: list[Any] = []
        if self.region is not None:
            area = orjson.loads(shapely.to_geojson(self.region))
            parts.append(
                {"op": "s_intersects", "args": [{"property": GEOMETRY_PROPERTY}, area]}
            )
        if self.filter is not None:
            parts.append(self.filter.expr)
        return parts[0] if len(parts) == 1 else {"op": "and", "args": parts}


def _merged(grants: list[Grant], raster: bool = False) -> AccessScope:
    """One collection's limits from several grants: a row, pixel or property any of
    them allows is allowed."""
    operations = frozenset().union(*(g.operations for g in grants))
    props: frozenset[str] | None = frozenset()
    for g in grants:
        props = None if props is None or g.properties is None else props | g.properties
    if any(g.all_rows for g in grants):
        return AccessScope(properties=props, operations=operations)
    distinct = {
        (g.region.wkb if g.region is not None else None, repr(g.filter)): g
        for g in grants
    }
    if raster:  # imagery has no rows to filter: the pixels of any granted region
        area = shapely.union_all([g.region for g in grants if g.region is not None])
        return AccessScope(region=area, operations=operations)
    if len(distinct) == 1:
        g = grants[0]
        return AccessScope(
            region=g.region,
            attribute_filter=g.filter,
            properties=props,
            operations=operations,
        )
    either = {"op": "or", "args": [g.condition() for g in distinct.values()]}
    return AccessScope(
        attribute_filter=Cql2Filter(either), properties=props, operations=operations
    )


class Grants:
    """Per role and collection, the grant; and the scopes of sets of roles."""

    def __init__(
        self,
        levels: dict[str, str],
        roles: dict[str, dict[str, Grant]],
        processes: dict[str, frozenset[str] | None],
        rasters: frozenset[str] = frozenset(),
    ) -> None:
        self.levels = levels  # collection id → classification
        self.rasters = rasters  # imagery collections
        self.roles = roles
        self.processes = processes
        self._scopes: dict[tuple[frozenset[str], str | None], AccessScope] = {}

    def scope(
        self, roles: frozenset[str], cap: Classification | None = None
    ) -> AccessScope:
        """The scope of a caller with these roles (none = anonymous) in an edition
        whose level is ``cap`` (None = no edition)."""
        key = (roles, cap)
        if key not in self._scopes:
            self._scopes[key] = self._build(roles, cap)
        return self._scopes[key]

    def _build(self, roles: frozenset[str], cap: Classification | None) -> AccessScope:
        limit = RANK[cap] if cap is not None else RANK["secret"]
        capped = {cid for cid, level in self.levels.items() if RANK[level] <= limit}
        if ADMIN in roles:
            return AccessScope(collections=None if cap is None else frozenset(capped))
        per: dict[str, AccessScope] = {}
        for cid in sorted(capped):
            grants = [
                self.roles[r][cid] for r in sorted(roles) if cid in self.roles.get(r, {})
            ]
            if self.levels[cid] == "public":
                grants.append(Grant(PUBLIC_OPERATIONS))
            if grants:
                merged = _merged(grants, cid in self.rasters)
                writers = [g for g in grants if g.operations & WRITE_OPERATIONS]
                if writers and len(writers) < len(grants):
                    limits = replace(_merged(writers), collections=None)
                    merged = replace(merged, write_scope=limits)
                per[cid] = merged
        operations = frozenset().union(*(s.operations or () for s in per.values()))
        seen = frozenset(per)
        return AccessScope(
            collections=seen,
            operations=operations,
            per_collection={
                cid: AccessScope(
                    collections=seen,
                    region=s.region,
                    attribute_filter=s.attribute_filter,
                    properties=s.properties,
                    operations=s.operations,
                    write_scope=s.write_scope,
                )
                for cid, s in per.items()
            },
        )

    def may_execute(self, roles: frozenset[str], process_id: str) -> bool:
        """Whether one of the roles may execute the process."""
        if ADMIN in roles:
            return True
        for role in roles:
            if role not in self.processes:
                continue
            allowed = self.processes[role]
            if allowed is None or process_id in allowed:
                return True
        return False


def public_scope(catalog: Catalog) -> AccessScope:
    """What an anonymous caller sees (without building the roles' grants)."""
    listing = catalog.listing(AccessScope())
    return AccessScope(
        collections=frozenset(c.id for c in listing if c.classification == "public")
    )


def _level_ok(role: RoleConfig, name: str, c: Collection | RasterCollection) -> bool:
    if RANK[c.classification] > RANK[role.level]:
        return False
    return role.collections is None or name in role.collections


async def _region(
    settings: Settings, catalog: Catalog, name: str
) -> shapely.Geometry | None:
    role = settings.security.roles[name]
    if role.region is None:
        return None
    parts: list[shapely.Geometry] = []
    if role.region.geometry is not None:
        try:
            parts.append(shapely.geometry.shape(role.region.geometry))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise GrantError(f"role {name}: region geometry: {exc}") from None
    if role.region.codes:
        parts.append(await _divisions(settings, catalog, name, role.region.codes))
    area = shapely.union_all(parts)
    if (
        area.is_empty
        or not area.is_valid
        or area.geom_type not in ("Polygon", "MultiPolygon")
    ):
        raise GrantError(f"role {name}: the region is not a valid (multi)polygon")
    return area


async def _divisions(
    settings: Settings, catalog: Catalog, name: str, codes: list[str]
) -> shapely.Geometry:
    """The union of the admin divisions whose codes start with one of ``codes``."""
    source = settings.security.regions
    found = catalog.find(source.collection, AccessScope())
    if not isinstance(found, Collection) or found.info.field(source.code_field) is None:
        raise GrantError(
            f"role {name}: region codes need collection {source.collection!r} "
            f"with property {source.code_field!r} (security.regions)"
        )
    text = " OR ".join(f"\"{source.code_field}\" LIKE '{c}%'" for c in codes)
    query = ItemsQuery(
        limit=100_000,
        properties=(source.code_field,),
        filter=parse(text, None),
        count="none",
    )
    page = await found.provider.items(found.id, query, AccessScope())
    shapes, seen = [], set()
    features = (
        page.features
        if isinstance(page.features, list)
        else [f async for f in page.features]
    )
    for encoded in features:
        feature = orjson.loads(encoded)
        seen.add(str(feature["properties"][source.code_field]))
        shapes.append(shapely.geometry.shape(feature["geometry"]))
    missing = [c for c in codes if not any(s.startswith(c) for s in seen)]
    if missing:
        raise GrantError(
            f"role {name}: no {source.collection} division has code {missing}"
        )
    return shapely.union_all(shapes)


async def _checked_filter(name: str, cid: str, text: str, c: Collection) -> Cql2Filter:
    """The rule's filter, parsed and run once against the collection."""
    try:
        cql = parse(text, None)
        scope = AccessScope(attribute_filter=cql)
        await c.provider.items(cid, ItemsQuery(limit=1, count="none"), scope)
    except Cql2Error as exc:
        raise GrantError(
            f"role {name}: filter of {cid}: {exc.key} {exc.params}"
        ) from None
    return cql


async def _rule_limits(
    name: str, cid: str, c: Collection | RasterCollection, rule: CollectionRule | None
) -> tuple[Cql2Filter | None, frozenset[str] | None]:
    """A rule's row filter and properties, checked against the collection."""
    if rule is None:
        return None, None
    cql = None
    if rule.filter is not None:
        if not isinstance(c, Collection):
            raise GrantError(f"role {name}: {cid} is imagery: no filter")
        cql = await _checked_filter(name, cid, rule.filter, c)
    props = None
    if rule.properties is not None:
        props = frozenset(rule.properties)
        known = {f.name for f in c.info.fields} if isinstance(c, Collection) else set()
        if not props <= known:
            raise GrantError(
                f"role {name}: {cid} has no properties {sorted(props - known)}"
            )
    return cql, props


async def build_grants(settings: Settings, catalog: Catalog) -> Grants:
    """Resolve every role against the catalog (GrantError names the first bad rule)."""
    listing = catalog.listing(AccessScope())
    levels = {c.id: c.classification for c in listing}
    by_id = {c.id: c for c in listing}
    roles: dict[str, dict[str, Grant]] = {}
    processes: dict[str, frozenset[str] | None] = {}
    for name, role in settings.security.roles.items():
        unknown = sorted(set(role.rules) - set(by_id))
        if unknown:
            raise GrantError(f"role {name}: rules name unknown collections {unknown}")
        region = await _region(settings, catalog, name)
        grants: dict[str, Grant] = {}
        for cid, c in by_id.items():
            rule = role.rules.get(cid)
            # every rule is checked, also one the role's level does not reach yet
            cql, props = await _rule_limits(name, cid, c, rule)
            if not _level_ok(role, cid, c):
                continue
            ops = frozenset(
                rule.operations
                if rule and rule.operations is not None
                else role.operations
            )
            applies = region is not None and (rule is None or rule.region)
            grants[cid] = Grant(ops, region if applies else None, cql, props)
        roles[name] = grants
        processes[name] = (
            (frozenset(role.processes) if role.processes is not None else None)
            if "execute" in role.operations
            else frozenset()
        )
    rasters = frozenset(c.id for c in listing if isinstance(c, RasterCollection))
    return Grants(levels, roles, processes, rasters)
