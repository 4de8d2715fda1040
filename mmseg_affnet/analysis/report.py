"""Tables, CSV files and scatter plots of measured rows: the one report
code of the benchmark, the comparison and the experiments."""
import csv
import io
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence, Tuple

from prettytable import PrettyTable, TableStyle


def markdown_table(columns: Sequence[str], rows: Iterable[Sequence],
                   left: Sequence[str] = ()) -> str:
    """A Markdown table, numbers aligned right.

    Args:
        columns (Sequence[str]): Column titles.
        rows (Iterable[Sequence]): One sequence of cell values per row,
            already formatted.
        left (Sequence[str]): Columns aligned left (names, labels).
            Default: ().

    Returns:
        str: The table (no trailing newline).
    """
    table = PrettyTable(list(columns))
    table.set_style(TableStyle.MARKDOWN)
    table.align = 'r'
    for column in left:
        table.align[column] = 'l'
    for row in rows:
        table.add_row(list(row))
    return table.get_string()


def csv_text(header: Sequence[str], rows: Iterable[Sequence],
             lineterminator: str = '\r\n') -> str:
    """CSV text of a header and rows; None is written as an empty cell.

    Args:
        header (Sequence[str]): Column names.
        rows (Iterable[Sequence]): One sequence of values per row.
        lineterminator (str): Line end. Default: '\\r\\n' (the csv module's).

    Returns:
        str: The CSV text.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=lineterminator)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _subplots(count: int, panel_size: Tuple[float, float]):
    """A figure of ``count`` panels side by side (Agg backend)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt.subplots(1, count,
                        figsize=(panel_size[0] * count, panel_size[1]),
                        squeeze=False)


def _png(figure) -> bytes:
    """The figure as PNG (120 dpi); the figure is closed."""
    import matplotlib.pyplot as plt
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format='png', dpi=120)
    plt.close(figure)
    return buffer.getvalue()


@dataclass
class Point:
    """A labelled marker; None leaves size and colour to matplotlib."""
    x: float
    y: float
    label: str
    size: Optional[float] = None
    color: Optional[str] = None


@dataclass
class Panel:
    """One plot of points, its title, axis labels and optional limits."""
    points: Sequence[Point]
    title: str
    xlabel: str
    ylabel: str
    xlim: Optional[Tuple[float, float]] = None
    ylim: Optional[Tuple[float, float]] = None
    title_size: Optional[float] = None


def scatter_png(panels: Sequence[Panel],
                alpha: Optional[float] = None,
                label_offset: Tuple[int, int] = (4, 4)) -> bytes:
    """Scatter plots side by side, each marker with its label, as PNG.

    Args:
        panels (Sequence[Panel]): The plots, left to right (7x5 in each).
        alpha (float, optional): Marker opacity. Default: None (opaque).
        label_offset (tuple[int, int]): Label offset from its marker in
            points. Default: (4, 4).

    Returns:
        bytes: The figure as PNG (120 dpi).
    """
    figure, axes = _subplots(len(panels), (7, 5))
    for ax, panel in zip(axes[0], panels):
        for point in panel.points:
            ax.scatter(point.x, point.y, s=point.size, color=point.color,
                       alpha=alpha)
            ax.annotate(point.label, (point.x, point.y),
                        textcoords='offset points', xytext=label_offset,
                        fontsize=8)
        if panel.xlim is not None:
            ax.set_xlim(*panel.xlim)
        if panel.ylim is not None:
            ax.set_ylim(*panel.ylim)
        ax.set_xlabel(panel.xlabel)
        ax.set_ylabel(panel.ylabel)
        ax.set_title(panel.title, **({} if panel.title_size is None else
                                     dict(fontsize=panel.title_size)))
        ax.grid(alpha=0.3)
    return _png(figure)


@dataclass
class BarPanel:
    """Bars with error bars: one value and its spread per label."""
    labels: Sequence[str]
    values: Sequence[float]
    errors: Sequence[float]
    title: str
    ylabel: str
    colors: Optional[Sequence[str]] = None


def bars_png(panels: Sequence[BarPanel]) -> bytes:
    """Bar charts side by side, each bar with its error bar, as PNG.

    The y-axis of each panel starts just below its lowest bar minus its
    error, so that differences of a point stay visible.

    Args:
        panels (Sequence[BarPanel]): The charts, left to right (5x4.5 in
            each).

    Returns:
        bytes: The figure as PNG (120 dpi).
    """
    figure, axes = _subplots(len(panels), (5, 4.5))
    for ax, panel in zip(axes[0], panels):
        positions = range(len(panel.labels))
        ax.bar(positions, panel.values, yerr=panel.errors, capsize=4,
               color=panel.colors)
        ax.set_xticks(list(positions))
        ax.set_xticklabels(panel.labels, rotation=30, ha='right', fontsize=8)
        low = min(v - e for v, e in zip(panel.values, panel.errors))
        high = max(v + e for v, e in zip(panel.values, panel.errors))
        margin = max(1.0, 0.15 * (high - low))
        ax.set_ylim(max(0.0, low - margin), high + margin)
        ax.set_ylabel(panel.ylabel)
        ax.set_title(panel.title, fontsize=9)
        ax.grid(axis='y', alpha=0.3)
    return _png(figure)
