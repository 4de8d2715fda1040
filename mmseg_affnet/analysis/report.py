"""Tables, CSV files and scatter plots of measured rows: the one report
code of the benchmark and the comparison."""
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
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(panels), figsize=(7 * len(panels), 5),
                                squeeze=False)
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
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format='png', dpi=120)
    plt.close(figure)
    return buffer.getvalue()
