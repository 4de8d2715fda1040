"""A painter of synthetic street scenes with Cityscapes' classes.

The scenes imitate Cityscapes' class imbalance (large road, sidewalk,
building, vegetation and sky regions; cars; small poles, signs, lights,
persons, riders, two-wheelers; rare trucks, buses and trams) with a
class-dependent colour, per-object colour jitter, texture, shading and pixel
noise, so that the task is learnable in minutes on a CPU but not trivial.
:func:`draw_street_scene` returns one image and its label map of train ids
(the class order of ``CityscapesDataset.METAINFO``) and 255 (ignore: the ego
car); :mod:`.demo_dataset` writes them as a dataset.
"""
from typing import Tuple

import cv2
import numpy as np
from mmseg.datasets import CityscapesDataset

IGNORE_INDEX = 255
CLASSES = tuple(CityscapesDataset.METAINFO['classes'])
(ROAD, SIDEWALK, BUILDING, WALL, FENCE, POLE, TRAFFIC_LIGHT, TRAFFIC_SIGN,
 VEGETATION, TERRAIN, SKY, PERSON, RIDER, CAR, TRUCK, BUS, TRAIN, MOTORCYCLE,
 BICYCLE) = (CLASSES.index(name) for name in (
     'road', 'sidewalk', 'building', 'wall', 'fence', 'pole', 'traffic light',
     'traffic sign', 'vegetation', 'terrain', 'sky', 'person', 'rider', 'car',
     'truck', 'bus', 'train', 'motorcycle', 'bicycle'))

# Base RGB colour of each train id; objects jitter around it.
CLASS_COLOURS = {
    ROAD: (92, 86, 98),
    SIDEWALK: (165, 140, 150),
    BUILDING: (125, 112, 100),
    WALL: (150, 152, 175),
    FENCE: (175, 140, 105),
    POLE: (70, 70, 78),
    TRAFFIC_LIGHT: (45, 45, 25),
    TRAFFIC_SIGN: (230, 205, 40),
    VEGETATION: (62, 118, 42),
    TERRAIN: (145, 182, 100),
    SKY: (150, 190, 235),
    PERSON: (205, 45, 75),
    RIDER: (235, 95, 30),
    CAR: (35, 55, 165),
    TRUCK: (45, 80, 95),
    BUS: (225, 150, 45),
    TRAIN: (40, 130, 135),
    MOTORCYCLE: (125, 35, 165),
    BICYCLE: (160, 35, 55),
}
EGO_CAR_COLOUR = (25, 25, 30)


class Canvas:
    """An RGB image and its label map, drawn together with cv2.

    Args:
        height (int): Image height in pixels.
        width (int): Image width in pixels.
        rng (np.random.Generator): Source of the colour jitter.
    """

    def __init__(self, height: int, width: int, rng: np.random.Generator):
        self.height, self.width, self.rng = height, width, rng
        self.image = np.zeros((height, width, 3), np.float32)
        self.label = np.full((height, width), IGNORE_INDEX, np.uint8)

    def colour(self, cls: int, jitter: float = 12.) -> Tuple[float, ...]:
        """Return the class colour with a random per-object brightness and
        per-channel jitter."""
        base = np.array(CLASS_COLOURS[cls], np.float32)
        colour = base * self.rng.uniform(0.8, 1.2) + self.rng.normal(
            0, jitter, 3)
        return tuple(float(v) for v in colour)

    def polygon(self, points, cls: int, colour=None):
        """Fill a polygon with class ``cls`` (default: its class colour)."""
        pts = [np.round(np.asarray(points)).astype(np.int32)]
        cv2.fillPoly(self.label, pts, int(cls))
        self.paint(points, colour or self.colour(cls))

    def rect(self, x0, y0, x1, y1, cls: int, colour=None):
        """Fill the axis-aligned rectangle with corners (x0, y0), (x1, y1)."""
        self.polygon([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], cls, colour)

    def ellipse(self, centre, axes, cls: int, colour=None, thickness=-1):
        """Draw an ellipse (filled unless ``thickness`` > 0)."""
        centre = tuple(int(round(v)) for v in centre)
        axes = tuple(max(1, int(round(v))) for v in axes)
        cv2.ellipse(self.label, centre, axes, 0, 0, 360, int(cls), thickness)
        cv2.ellipse(self.image, centre, axes, 0, 0, 360,
                    colour or self.colour(cls), thickness)

    def line(self, p0, p1, thickness: float, cls: int, colour=None):
        """Draw a line segment of the given thickness."""
        p0 = tuple(int(round(v)) for v in p0)
        p1 = tuple(int(round(v)) for v in p1)
        thickness = max(1, int(round(thickness)))
        cv2.line(self.label, p0, p1, int(cls), thickness)
        cv2.line(self.image, p0, p1, colour or self.colour(cls), thickness)

    def paint(self, points, colour):
        """Fill a polygon in the image only (texture: the label stays)."""
        pts = [np.round(np.asarray(points)).astype(np.int32)]
        cv2.fillPoly(self.image, pts, colour)

    def texture_rect(self, x0, y0, x1, y1, offset: float):
        """Brighten (offset > 0) or darken a rectangle without relabelling."""
        y0, y1 = (int(np.clip(v, 0, self.height)) for v in (y0, y1))
        x0, x1 = (int(np.clip(v, 0, self.width)) for v in (x0, x1))
        self.image[y0:y1, x0:x1] += offset


class StreetLayout:
    """Perspective geometry of one street: horizon, road and sidewalk edges.

    Depth ``t`` runs from 0 at the horizon to 1 at the bottom image row.

    Args:
        height (int): Image height.
        width (int): Image width.
        rng (np.random.Generator): Source of the random layout.
    """

    def __init__(self, height: int, width: int, rng: np.random.Generator):
        self.height, self.width = height, width
        self.horizon = height * rng.uniform(0.36, 0.46)
        self.vanishing_x = width * rng.uniform(0.4, 0.6)
        road_left = width * rng.uniform(-0.3, 0.1)
        road_right = width * rng.uniform(0.9, 1.3)
        self.bottom_x = {
            'road_left': road_left,
            'road_right': road_right,
            'side_left': road_left - width * rng.uniform(0.1, 0.35),
            'side_right': road_right + width * rng.uniform(0.1, 0.35),
        }
        for side in ('left', 'right'):
            gap = width * rng.uniform(0.05, 0.4) * (rng.random() < 0.4)
            sign = -1 if side == 'left' else 1
            self.bottom_x[f'facade_{side}'] = \
                self.bottom_x[f'side_{side}'] + sign * gap

    def y_at(self, t: float) -> float:
        """Image row at depth ``t``."""
        return self.horizon + t * (self.height - self.horizon)

    def x_at(self, edge: str, t: float) -> float:
        """Image column of a street edge at depth ``t``."""
        return self.vanishing_x + t * (self.bottom_x[edge] - self.vanishing_x)

    def scale(self, t: float) -> float:
        """Apparent size of a 1-unit object at depth ``t`` (pixels)."""
        return t * self.height


def _draw_background(canvas: Canvas, street: StreetLayout,
                     rng: np.random.Generator):
    """Sky, distant skyline, facades along the street and the ground."""
    height, width, horizon = canvas.height, canvas.width, street.horizon
    canvas.rect(0, 0, width, horizon + 1, SKY)
    canvas.image[:int(horizon) + 1] += np.linspace(
        -25, 15, int(horizon) + 1)[:, None, None]
    x = rng.uniform(-0.1, 0) * width
    while x < width:
        building_width = width * rng.uniform(0.05, 0.15)
        if rng.random() > 0.2:
            _draw_skyline_building(canvas, street, rng, x,
                                   x + building_width)
        x += building_width
    canvas.rect(0, horizon, width, height, TERRAIN)
    for side in ('left', 'right'):
        _draw_facades(canvas, street, rng, f'facade_{side}')
    for side in ('left', 'right'):
        if rng.random() < 0.8:
            _draw_roadside_band(canvas, street, rng, side)
    sidewalk = [(street.x_at('side_left', 0) - 2, horizon),
                (street.x_at('side_right', 0) + 2, horizon),
                (street.bottom_x['side_right'], height),
                (street.bottom_x['side_left'], height)]
    canvas.polygon(sidewalk, SIDEWALK)
    road = [(street.vanishing_x - 1, horizon),
            (street.vanishing_x + 1, horizon),
            (street.bottom_x['road_right'], height),
            (street.bottom_x['road_left'], height)]
    canvas.polygon(road, ROAD)
    _draw_lane_marks(canvas, street)


def _draw_skyline_building(canvas: Canvas, street: StreetLayout,
                           rng: np.random.Generator, x0: float, x1: float):
    """A distant building between columns x0 and x1, on the horizon."""
    top = street.horizon - canvas.height * rng.uniform(0.05, 0.3)
    canvas.rect(x0, top, x1, street.horizon + 2, BUILDING)
    window = max(1., (x1 - x0) / rng.uniform(5, 9))
    offset = rng.choice([-40., 35.])
    for wy in np.arange(top + window, street.horizon - window, 2 * window):
        for wx in np.arange(x0 + window / 2, x1 - window, 2 * window):
            canvas.texture_rect(wx, wy, wx + window, wy + window, offset)


def _draw_facades(canvas: Canvas, street: StreetLayout,
                  rng: np.random.Generator, edge: str):
    """A row of building facades standing on one street edge, with windows.

    A facade spans depths [t0, t1] and is ``rel_height`` image heights tall at
    depth 1; consecutive facades grow geometrically in depth, like houses of
    similar length seen in perspective.
    """
    t0 = rng.uniform(0.02, 0.06)
    while t0 < 3:
        t1 = t0 * rng.uniform(1.3, 1.9)
        if rng.random() < 0.85:
            rel_height = rng.uniform(0.5, 2.0)

            def point(t, v):
                return (street.x_at(edge, t),
                        street.y_at(t) - v * rel_height * street.scale(t))

            colour = canvas.colour(BUILDING)
            canvas.polygon([point(t0, 0), point(t1, 0), point(t1, 1),
                            point(t0, 1)], BUILDING, colour)
            window_colour = tuple(np.add(colour, rng.choice([-45., 40.])))
            columns, rows = rng.integers(2, 6), int(rng.integers(3, 9))
            for u in np.arange(columns) / columns:
                for v in np.arange(rows) / rows:
                    ta, tb = (t0 + (t1 - t0) * (u + du / columns)
                              for du in (0.25, 0.75))
                    va, vb = v + 0.3 / rows, v + 0.7 / rows
                    canvas.paint([point(ta, va), point(tb, va),
                                  point(tb, vb), point(ta, vb)],
                                 window_colour)
        t0 = t1


def _draw_roadside_band(canvas: Canvas, street: StreetLayout,
                        rng: np.random.Generator, side: str):
    """A wall, fence or hedge along the outer edge of one sidewalk."""
    cls = rng.choice([WALL, FENCE, VEGETATION, TERRAIN], p=[.3, .3, .25, .15])
    edge = f'side_{side}'
    t0, t1 = sorted(rng.uniform(0.05, 1.0, 2))
    band_height = rng.uniform(0.1, 0.3)
    lower = [(street.x_at(edge, t), street.y_at(t)) for t in (t0, t1)]
    upper = [(x, y - street.scale(t) * band_height)
             for (x, y), t in zip(lower, (t0, t1))]
    canvas.polygon(lower + upper[::-1], cls)
    if cls == FENCE:
        for t in np.linspace(t0, t1, 8):
            x, y = street.x_at(edge, t), street.y_at(t)
            canvas.image[int(max(0, y - street.scale(t) * band_height)):
                         int(y), int(np.clip(x, 0, canvas.width - 1))] -= 50


def _draw_lane_marks(canvas: Canvas, street: StreetLayout):
    """Dashed white centre line (texture only: it stays road)."""
    for t0 in np.arange(0.1, 1.0, 0.16):
        t1 = t0 + 0.07
        points = []
        for t, sign in ((t0, -1), (t0, 1), (t1, 1), (t1, -1)):
            centre = (street.x_at('road_left', t) +
                      street.x_at('road_right', t)) / 2
            half_width = max(0.5, street.scale(t) * 0.006)
            points.append((centre + sign * half_width, street.y_at(t)))
        canvas.paint(points, (225, 225, 225))


def _draw_pole(canvas: Canvas, street: StreetLayout, rng, x: float, t: float):
    """A pole with, sometimes, a traffic sign or a traffic light on top."""
    size = street.scale(t)
    base_y, top_y = street.y_at(t), street.y_at(t) - 0.9 * size
    canvas.line((x, base_y), (x, top_y), 0.025 * size + 1, POLE)
    kind = rng.choice(['bare', 'sign', 'light'], p=[.3, .4, .3])
    box = 0.08 * size + 2
    if kind == 'sign':
        if rng.random() < 0.5:
            canvas.ellipse((x, top_y), (box, box), TRAFFIC_SIGN)
        else:
            canvas.rect(x - box, top_y - box, x + box, top_y + box,
                        TRAFFIC_SIGN)
    elif kind == 'light':
        canvas.rect(x - box * 0.6, top_y - box * 1.6, x + box * 0.6,
                    top_y + box * 0.4, TRAFFIC_LIGHT)
        lamp = rng.integers(3)
        lamp_colour = [(60, 220, 60), (240, 200, 40), (240, 50, 40)][lamp]
        cy = top_y - box * (1.1 - 0.5 * lamp)
        cv2.circle(canvas.image, (int(x), int(cy)), max(1, int(box * 0.35)),
                   lamp_colour, -1)


def _draw_person(canvas: Canvas, x: float, base_y: float, size: float,
                 cls: int = PERSON):
    """A standing figure (or the upper body of a rider) ``size`` tall."""
    colour = canvas.colour(cls, jitter=25)
    head = 0.09 * size
    canvas.ellipse((x, base_y - size + head), (head * 0.8, head), cls,
                   (195, 160, 135))
    canvas.rect(x - 0.13 * size, base_y - size + 2 * head, x + 0.13 * size,
                base_y - 0.45 * size, cls, colour)
    for dx in (-0.07, 0.07):
        canvas.line((x + dx * size, base_y - 0.46 * size),
                    (x + 1.3 * dx * size, base_y), 0.08 * size + 1, cls,
                    colour)


def _draw_two_wheeler(canvas: Canvas, x: float, base_y: float, size: float,
                      cls: int):
    """A bicycle or motorcycle ``size`` wide, with its rider."""
    wheel = 0.22 * size
    thickness = 0.05 * size + 1
    for dx in (-0.35, 0.35):
        canvas.ellipse((x + dx * size, base_y - wheel), (wheel, wheel), cls,
                       thickness=int(thickness) + (cls == MOTORCYCLE) * 2)
    if cls == MOTORCYCLE:
        canvas.ellipse((x, base_y - 1.5 * wheel), (0.35 * size, wheel), cls)
    else:
        canvas.line((x - 0.35 * size, base_y - wheel), (x, base_y - 2 * wheel),
                    thickness, cls)
        canvas.line((x + 0.35 * size, base_y - wheel), (x, base_y - 2 * wheel),
                    thickness, cls)
    _draw_person(canvas, x, base_y - 1.6 * wheel, 0.9 * size, RIDER)


def _draw_vehicle(canvas: Canvas, x: float, base_y: float, size: float,
                  cls: int):
    """A car, truck, bus or tram of class ``cls`` seen from behind/aside."""
    width, height = {
        CAR: (0.55, 0.3), TRUCK: (0.7, 0.6), BUS: (1.0, 0.55),
        TRAIN: (1.5, 0.5)}[cls]
    width, height = width * size, height * size
    x0, x1, top = x - width / 2, x + width / 2, base_y - height
    colour = canvas.colour(cls, jitter=22)
    canvas.rect(x0, top, x1, base_y - 0.12 * height, cls, colour)
    if cls == CAR:
        canvas.polygon([(x0 + 0.15 * width, top), (x1 - 0.15 * width, top),
                        (x1 - 0.25 * width, top - 0.5 * height),
                        (x0 + 0.25 * width, top - 0.5 * height)], cls, colour)
        canvas.texture_rect(x0 + 0.28 * width, top - 0.4 * height,
                            x1 - 0.28 * width, top, -60)
    else:
        canvas.texture_rect(x0 + 0.05 * width, top + 0.1 * height,
                            x1 - 0.05 * width, top + 0.4 * height, -70)
    wheel = 0.13 * height + 1
    for wx in (x0 + 0.2 * width, x1 - 0.2 * width):
        canvas.ellipse((wx, base_y - wheel), (wheel, wheel), cls, (20, 20, 20))


def _draw_tree(canvas: Canvas, street: StreetLayout, x: float, t: float):
    """A trunk and a leafy crown (both vegetation, as in Cityscapes)."""
    size = street.scale(t)
    base_y = street.y_at(t)
    canvas.line((x, base_y), (x, base_y - 0.6 * size), 0.04 * size + 1,
                VEGETATION, (85, 65, 45))
    canvas.ellipse((x, base_y - 0.85 * size), (0.3 * size, 0.35 * size),
                   VEGETATION)


def _draw_objects(canvas: Canvas, street: StreetLayout,
                  rng: np.random.Generator):
    """Place street furniture, people and vehicles, far ones first."""
    objects = []  # (depth t, draw function)

    def on_sidewalk(t):
        side = rng.choice(['left', 'right'])
        road, outer = (street.x_at(f'road_{side}', t),
                       street.x_at(f'side_{side}', t))
        return road + rng.uniform(0.1, 0.9) * (outer - road)

    def on_road(t):
        return street.x_at('road_left', t) + rng.uniform(0.15, 0.85) * (
            street.x_at('road_right', t) - street.x_at('road_left', t))

    for _ in range(rng.integers(2, 6)):
        t = rng.uniform(0.1, 0.95)
        objects.append((t, lambda t=t, x=on_sidewalk(t): _draw_pole(
            canvas, street, rng, x, t)))
    for _ in range(rng.integers(1, 5)):
        t = rng.uniform(0.1, 0.95)
        objects.append((t, lambda t=t, x=on_sidewalk(t): _draw_person(
            canvas, x, street.y_at(t), 0.45 * street.scale(t))))
    for _ in range(rng.integers(1, 6)):
        t = rng.uniform(0.1, 0.9)
        x = on_sidewalk(t)
        objects.append((t, lambda t=t, x=x: _draw_tree(canvas, street, x, t)))
    vehicle_classes = [CAR] * int(rng.integers(2, 6))
    vehicle_classes += [c for c, p in ((TRUCK, .35), (BUS, .3), (TRAIN, .15))
                        if rng.random() < p]
    for cls in vehicle_classes:
        t = rng.uniform(0.15, 0.9)
        objects.append((t, lambda t=t, x=on_road(t), c=cls: _draw_vehicle(
            canvas, x, street.y_at(t), street.scale(t), c)))
    two_wheelers = [BICYCLE] * int(rng.integers(0, 3))
    two_wheelers += [MOTORCYCLE] * int(rng.random() < 0.4)
    for cls in two_wheelers:
        t = rng.uniform(0.2, 0.9)
        objects.append((t, lambda t=t, x=on_road(t), c=cls: _draw_two_wheeler(
            canvas, x, street.y_at(t), 0.4 * street.scale(t), c)))
    for _, draw in sorted(objects, key=lambda item: item[0]):
        draw()


def _finish_image(canvas: Canvas, rng: np.random.Generator) -> np.ndarray:
    """Add leaf texture, shading, noise and blur; return a uint8 BGR image."""
    height, width = canvas.height, canvas.width
    leaf_noise = cv2.GaussianBlur(
        rng.normal(0, 28, (height, width)).astype(np.float32), (0, 0), 1.0)
    canvas.image += ((canvas.label == VEGETATION) * leaf_noise)[..., None]
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    direction = rng.normal(size=2)
    ramp = (xx / width - 0.5) * direction[0] + (yy / height - 0.5) * \
        direction[1]
    shading = rng.uniform(0.8, 1.15) * (1 + 0.25 * ramp)
    image = canvas.image * shading[..., None]
    image += rng.normal(0, 10, image.shape).astype(np.float32)
    image = cv2.GaussianBlur(image, (3, 3), 0)
    return cv2.cvtColor(np.clip(image, 0, 255).astype(np.uint8),
                        cv2.COLOR_RGB2BGR)


def draw_street_scene(rng: np.random.Generator, height: int,
                      width: int) -> Tuple[np.ndarray, np.ndarray]:
    """Draw one synthetic street scene.

    Args:
        rng (np.random.Generator): Source of all randomness of the scene.
        height (int): Image height.
        width (int): Image width.

    Returns:
        tuple[np.ndarray, np.ndarray]: The BGR image (H, W, 3) uint8 and its
        label map (H, W) uint8 of train ids 0..18 and 255 (ignore).
    """
    canvas = Canvas(height, width, rng)
    street = StreetLayout(height, width, rng)
    _draw_background(canvas, street, rng)
    _draw_objects(canvas, street, rng)
    if rng.random() < 0.5:
        canvas.ellipse((width * rng.uniform(0.4, 0.6), height * 1.08),
                       (width * 0.45, height * rng.uniform(0.12, 0.2)),
                       IGNORE_INDEX, EGO_CAR_COLOUR)
    return _finish_image(canvas, rng), canvas.label
