"""The execution plot: the DAG drawn as a plotly figure, each step coloured by its status."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Mapping

if TYPE_CHECKING:  # networkx costs ~80 ms to import: only pipelines that run or draw pay it
    import networkx as nx

STATUS_COLOURS = {"pending": "#bdbdbd", "running": "#1e88e5", "completed": "#43a047", "cached": "#00897b",
                  "failed": "#e53935", "skipped": "#fb8c00", "aborted": "#8e24aa"}


def dag_graph(parents: Mapping[str, Iterable[str]]) -> nx.DiGraph:
    """The DAG of ``{step: its parents}`` (parents that are not steps are left out)."""
    import networkx as nx
    graph = nx.DiGraph()
    for name, step_parents in parents.items():
        graph.add_node(name)
        graph.add_edges_from((p, name) for p in step_parents if p in parents)
    return graph


def layered_positions(graph: nx.DiGraph) -> dict[str, tuple[float, float]]:
    """x = topological generation, y = position inside the generation (a graph with a cycle,
    which a stored DAG should never have, is drawn as one column)."""
    import networkx as nx
    if not nx.is_directed_acyclic_graph(graph):
        return {name: (0.0, float(-i)) for i, name in enumerate(graph)}
    positions = {}
    for x, generation in enumerate(nx.topological_generations(graph)):
        for y, name in enumerate(sorted(generation)):
            positions[name] = (float(x), float(-y))
    return positions


def execution_figure(graph: nx.DiGraph, nodes: dict[str, Any], title: str) -> dict:
    positions = layered_positions(graph)
    edge_x, edge_y = [], []
    for a, b in graph.edges:
        (x0, y0), (x1, y1) = positions[a], positions[b]
        edge_x += [x0, x1, None]
        edge_y += [y0, y1, None]
    names = list(positions)
    statuses = [nodes[n].status for n in names]
    return {
        "data": [
            {"type": "scatter", "mode": "lines", "x": edge_x, "y": edge_y, "hoverinfo": "none",
             "line": {"color": "#9e9e9e", "width": 1}, "showlegend": False},
            {"type": "scatter", "mode": "markers+text", "x": [positions[n][0] for n in names],
             "y": [positions[n][1] for n in names], "text": names, "textposition": "top center",
             "customdata": [[nodes[n].executed or "", s] for n, s in zip(names, statuses)],
             "hovertext": [f"{n}: {s}" for n, s in zip(names, statuses)], "hoverinfo": "text",
             "marker": {"size": 22, "color": [STATUS_COLOURS.get(s, "#000") for s in statuses]},
             "showlegend": False},
        ],
        "layout": {"title": {"text": title}, "xaxis": {"visible": False}, "yaxis": {"visible": False},
                   "meta": {"statuses": dict(zip(names, statuses))}},
    }
