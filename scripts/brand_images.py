"""Draw the project's brand images: the integration's and the add-on's icon and logo.

Run ``.venv/bin/python scripts/brand_images.py`` after changing the drawing; the
images are committed. The icon is a building on a blue tile with a lightning bolt and
one lit window; the logo is the icon beside the name.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parent.parent
BLUE = (21, 82, 140, 255)
WALL = (240, 244, 248, 255)
WINDOW = (122, 146, 170, 255)
LIT = (250, 190, 20, 255)
TEXT = (21, 82, 140, 255)
DARK_TEXT = (235, 240, 245, 255)
NAME = "Local VPP"


def icon(size: int) -> Image.Image:
    """The square icon, ``size`` pixels wide, on a transparent background."""
    scale = 4  # drawn larger, then reduced: smooth edges without anti-aliasing support
    big = size * scale
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)

    def box(x0: float, y0: float, x1: float, y1: float) -> tuple[int, ...]:
        return tuple(round(v * big) for v in (x0, y0, x1, y1))

    draw.rounded_rectangle(box(0, 0, 1, 1), radius=big * 0.16, fill=BLUE)
    draw.polygon(
        [(big * x, big * y) for x, y in ((0.20, 0.40), (0.50, 0.18), (0.80, 0.40))],
        fill=WALL,
    )
    draw.rectangle(box(0.25, 0.39, 0.75, 0.84), fill=WALL)
    for row, y in enumerate((0.45, 0.58, 0.71)):
        for column, x in enumerate((0.31, 0.45, 0.59)):
            colour = LIT if (row, column) == (2, 1) else WINDOW
            draw.rectangle(box(x, y, x + 0.10, y + 0.08), fill=colour)
    bolt = ((0.58, 0.10), (0.47, 0.30), (0.55, 0.30), (0.48, 0.47), (0.66, 0.24))
    bolt += ((0.57, 0.24), (0.64, 0.10))
    draw.polygon([(big * x, big * y) for x, y in bolt], fill=LIT)
    return image.resize((size, size), Image.Resampling.LANCZOS)


def logo(height: int, *, dark: bool = False) -> Image.Image:
    """The icon and the name side by side, ``height`` pixels high, trimmed."""
    font = ImageFont.load_default(size=round(height * 0.52))
    left, top, right, bottom = font.getbbox(NAME)
    gap = round(height * 0.18)
    image = Image.new("RGBA", (height + gap + right - left, height), (0, 0, 0, 0))
    image.alpha_composite(icon(height))
    draw = ImageDraw.Draw(image)
    y = (height - (bottom - top)) / 2 - top
    draw.text(
        (height + gap - left, y), NAME, font=font, fill=DARK_TEXT if dark else TEXT
    )
    return image.crop(image.getbbox())  # trimmed: no transparent border


def main() -> None:
    """Write every brand image."""
    integration = ROOT / "custom_components" / "local_vpp" / "brand"
    integration.mkdir(parents=True, exist_ok=True)
    icon(256).save(integration / "icon.png", optimize=True)
    icon(512).save(integration / "icon@2x.png", optimize=True)
    logo(128).save(integration / "logo.png", optimize=True)
    logo(256).save(integration / "logo@2x.png", optimize=True)
    logo(128, dark=True).save(integration / "dark_logo.png", optimize=True)
    logo(256, dark=True).save(integration / "dark_logo@2x.png", optimize=True)
    addon = ROOT / "local_vpp_sidecar"
    icon(128).save(addon / "icon.png", optimize=True)
    logo(100).save(addon / "logo.png", optimize=True)


if __name__ == "__main__":
    main()
