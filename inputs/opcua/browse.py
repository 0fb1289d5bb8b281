"""Resolve configured node ids to the variables to read: folders and objects are browsed.

A configured Variable is read itself. A configured Object (a folder, a device object) is browsed
level by level through forward Organizes and HasComponent references (and their subtypes), or
with `browseHierarchicalReferences` every HierarchicalReferences subtype (HasProperty too), at
most `MAX_DEPTH` levels below it, collecting the Variables found; a Variable's own children
(properties, components of complex variables) are not descended into.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from asyncua import Client, ua

from streamforge.connectors.opcua import datatype_name, status_text
from streamforge.inputs.opcua.values import NodeInfo

__all__ = ["MAX_DEPTH", "resolve"]

MAX_DEPTH = 10
#: node ids per Read / Browse request
CHUNK = 1000

_REFERENCES = (ua.ObjectIds.Organizes, ua.ObjectIds.HasComponent)
#: `browseHierarchicalReferences`: every hierarchical reference (Organizes, HasComponent,
#: HasProperty, HasNotifier ... and their subtypes)
_HIERARCHICAL = (ua.ObjectIds.HierarchicalReferences,)
_NODE_CLASSES = int(ua.NodeClass.Object) | int(ua.NodeClass.Variable)


async def _namespaced(client: Client, nodes: Sequence[ua.NodeId]) -> list[ua.NodeId]:
    """Node ids with `nsu=` namespace URIs replaced by the server's namespace index."""
    if not any(isinstance(n, ua.ExpandedNodeId) and n.NamespaceUri for n in nodes):
        return list(nodes)
    table = await client.get_namespace_array()
    out: list[ua.NodeId] = []
    for n in nodes:
        uri = getattr(n, "NamespaceUri", None)
        if uri:
            index = table.index(uri) if uri in table else 0xFFFF
            out.append(ua.NodeId(n.Identifier, ua.Int16(index), n.NodeIdType))
        else:
            out.append(n)
    return out


def _code(dv: ua.DataValue) -> int:
    """The status code of a read result (0, Good, when absent)."""
    return dv.StatusCode.value if dv.StatusCode is not None else 0


def _value(dv: ua.DataValue) -> Any:
    """The value of a good read result; None otherwise."""
    if _code(dv) & 0xC0000000 or dv.Value is None:
        return None
    return dv.Value.Value


def _plain(node: ua.NodeId) -> ua.NodeId:
    """A NodeId (not an ExpandedNodeId), so ids compare and hash alike."""
    return ua.NodeId(node.Identifier, node.NamespaceIndex, node.NodeIdType)


async def _read(
    client: Client, nodes: Sequence[ua.NodeId], attr: ua.AttributeIds
) -> list[ua.DataValue]:
    results: list[ua.DataValue] = []
    for i in range(0, len(nodes), CHUNK):
        part = list(nodes[i : i + CHUNK])
        results.extend(await client.uaclient.read_attributes(part, attr))
    return results


async def _browse(
    client: Client, parents: Sequence[ua.NodeId], references: Sequence[int] = _REFERENCES
) -> list[list[ua.ReferenceDescription]]:
    """Forward hierarchical children (Objects and Variables) of each parent."""
    out: list[list[ua.ReferenceDescription]] = [[] for _ in parents]
    pairs = [(i, ref) for i in range(len(parents)) for ref in references]
    for start in range(0, len(pairs), CHUNK):
        part = pairs[start : start + CHUNK]
        params = ua.BrowseParameters()
        params.RequestedMaxReferencesPerNode = 0
        for i, ref in part:
            desc = ua.BrowseDescription()
            desc.NodeId = parents[i]
            desc.BrowseDirection = ua.BrowseDirection.Forward
            desc.ReferenceTypeId = ua.NodeId(ua.Int32(ref))
            desc.IncludeSubtypes = True
            desc.NodeClassMask = _NODE_CLASSES
            desc.ResultMask = int(ua.BrowseResultMask.All)
            params.NodesToBrowse.append(desc)
        results = await client.uaclient.browse(params)
        for (i, _), result in zip(part, results):
            refs = list(result.References or [])
            point = result.ContinuationPoint
            while point:
                nxt = ua.BrowseNextParameters()
                nxt.ContinuationPoints = [point]
                more = (await client.uaclient.browse_next(nxt))[0]
                refs.extend(more.References or [])
                point = more.ContinuationPoint
            out[i].extend(refs)
    return out


async def resolve(
    client: Client,
    configured: Sequence[ua.NodeId],
    log: logging.Logger,
    label: str,
    *,
    hierarchical: bool = False,
) -> list[NodeInfo]:
    """Every variable to read, in configuration order; unreadable configured nodes carry `error`.

    `hierarchical` browses every hierarchical reference (`browseHierarchicalReferences`).
    """
    references = _HIERARCHICAL if hierarchical else _REFERENCES
    ids = await _namespaced(client, configured)
    classes = await _read(client, ids, ua.AttributeIds.NodeClass)
    names = await _read(client, ids, ua.AttributeIds.BrowseName)
    found: list[NodeInfo] = []
    seen: set[ua.NodeId] = set()
    level: list[tuple[ua.NodeId, str]] = []
    for raw, nodeid, cls, name in zip(configured, ids, classes, names):
        if nodeid in seen:
            continue
        seen.add(nodeid)
        shown = raw.to_string()
        node_class = _value(cls)
        if node_class is None:
            code = _code(cls) or ua.StatusCodes.BadNodeIdUnknown
            info = NodeInfo(nodeid, shown, shown)
            info.error_status = code
            info.error = f"node {shown}: {status_text(code)}"
            found.append(info)
            continue
        qualified = _value(name)
        browse_name = qualified.Name if isinstance(qualified, ua.QualifiedName) else shown
        if node_class == ua.NodeClass.Variable:
            found.append(NodeInfo(nodeid, browse_name, browse_name))
        elif node_class == ua.NodeClass.Object:
            level.append((nodeid, browse_name))
        else:
            info = NodeInfo(nodeid, browse_name, browse_name)
            info.error_status = ua.StatusCodes.BadNodeClassInvalid
            info.error = (
                f"node {shown}: is a {ua.NodeClass(node_class).name}, "
                "not a Variable, Object or folder"
            )
            found.append(info)
    depth = 0
    cut: list[str] = []
    while level:
        depth += 1
        children = await _browse(client, [n for n, _ in level], references)
        next_level: list[tuple[ua.NodeId, str]] = []
        for (_, path), refs in zip(level, children):
            for ref in refs:
                child = ua.NodeId(
                    ref.NodeId.Identifier, ref.NodeId.NamespaceIndex, ref.NodeId.NodeIdType
                )
                if child in seen:
                    continue
                seen.add(child)
                child_path = f"{path}.{ref.BrowseName.Name}"
                if ref.NodeClass == ua.NodeClass.Variable:
                    found.append(NodeInfo(child, ref.BrowseName.Name, child_path))
                elif depth < MAX_DEPTH:
                    next_level.append((child, child_path))
                else:
                    cut.append(child_path)
        level = next_level
    if cut:
        log.warning(
            "opcua input %s: not browsing below %d object(s) %d levels deep (e.g. %s)",
            label,
            len(cut),
            MAX_DEPTH,
            cut[0],
        )
    await _datatypes(client, [f for f in found if not f.error])
    return found


async def _datatypes(client: Client, infos: list[NodeInfo]) -> None:
    """Fill in each variable's declared data type name."""
    if not infos:
        return
    values = await _read(client, [i.nodeid for i in infos], ua.AttributeIds.DataType)
    custom: dict[ua.NodeId, str] = {}
    for info, dv in zip(infos, values):
        dtype = _value(dv)
        if not isinstance(dtype, ua.NodeId):
            info.datatype = ""
            continue
        if dtype.NamespaceIndex == 0:
            info.datatype = datatype_name(dtype)
        else:
            custom.setdefault(dtype, "")
            info.datatype = dtype.to_string()
    if custom:
        keys = list(custom)
        for key, dv in zip(keys, await _read(client, keys, ua.AttributeIds.BrowseName)):
            qualified = _value(dv)
            if isinstance(qualified, ua.QualifiedName):
                custom[key] = qualified.Name
        by_id = {k.to_string(): v for k, v in custom.items() if v}
        for info in infos:
            info.datatype = by_id.get(info.datatype, info.datatype)
