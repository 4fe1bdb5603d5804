"""A demo shop's 90 days, generated from a seed: the same seed gives the same events, byte for byte.

Shoppers of a Chinese e-commerce shop reach it through the app, the web and
the WeChat mini-program. Each has a first touch (a utm channel, or none),
browses (pages and screens, product views), adds to cart, checks out and
orders (products, categories, brands, sometimes a coupon), now and then asks
for a refund, and says who they are (identify with traits) somewhere along
the way. Some use two devices (the app and the web), identified with the same
user id on both, so identity stitches them into one person; the
mini-program's shoppers, and some app shoppers, carry a WeChat OpenID.

Events are Segment-spec dicts, as an SDK sends them to /v1/batch, with
messageIds derived from the seed's prefix and position: loading twice changes
nothing. `./suite start` loads a shop (tools/demo.py); the import benchmark
(bench/import_shop.py) sends a larger one.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

DAYS = 90
CITIES = ["上海", "北京", "杭州", "深圳", "成都", "广州", "南京", "武汉"]
AGE_BANDS = ["18-24", "25-34", "35-44", "45-54"]
PLATFORMS = ["app", "web", "mini_program"]
PLATFORM_WEIGHTS = [45, 30, 25]
# (utm_source, utm_medium, campaign), None for direct traffic.
CHANNELS = [
    ("douyin", "video", "618_preheat"),
    ("wechat", "social", "friend_referral"),
    ("baidu", "cpc", "brand_search"),
    ("xiaohongshu", "kol", "spring_picks"),
    None,
]
CHANNEL_WEIGHTS = [25, 25, 15, 15, 20]
# sku, name, category, brand, price (CNY)
PRODUCTS = [
    ("sku-yoga-mat", "瑜伽垫 Yoga mat", "fitness", "Keep", 129.0),
    ("sku-dumbbell", "哑铃 Dumbbells", "fitness", "Decathlon", 199.0),
    ("sku-diapers", "纸尿裤 Diapers", "mother_baby", "Babycare", 149.0),
    ("sku-formula", "奶粉 Infant formula", "mother_baby", "Feihe", 268.0),
    ("sku-cherries", "车厘子 Cherries", "fresh", "Pagoda", 129.0),
    ("sku-durian", "榴莲 Durian", "fresh", "Pagoda", 199.0),
    ("sku-serum", "精华 Serum", "beauty", "Proya", 329.0),
    ("sku-lipstick", "口红 Lipstick", "beauty", "Florasis", 169.0),
    ("sku-tea", "龙井 Longjing tea", "snacks", "Xihu", 88.0),
    ("sku-nuts", "坚果 Mixed nuts", "snacks", "Three Squirrels", 59.9),
]
COUPONS = ["NEW20", "618MINUS50", "VIP10"]
PAGES = ["Home", "Category", "Search", "Campaign"]


@dataclass
class Shopper:
    n: int
    user_id: str
    devices: list[tuple[str, str]]  # (platform, anonymous/device id); two for a stitched shopper
    traits: dict
    channel: tuple[str, str, str] | None
    budget: int  # how many events this shopper sends
    openid: str | None = None
    prefix: str = "demo"  # of messageIds and order ids
    first_seen: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))


def _budgets(shoppers: int, events: int, rng: random.Random) -> list[int]:
    """Events per shopper, at least 2 each (a first visit and an identify), summing to `events`.

    Skewed like a shop: most shoppers send a few events, a few send many.
    """
    if events < 2 * shoppers:
        raise ValueError(f"{events} events cannot give {shoppers} shoppers two each")
    weights = [rng.paretovariate(1.6) for _ in range(shoppers)]
    total = sum(weights)
    spare = events - 2 * shoppers
    extra = [int(spare * w / total) for w in weights]
    for i in rng.sample(range(shoppers), spare - sum(extra)):
        extra[i] += 1
    return [2 + e for e in extra]


def shoppers(count: int, events: int, seed: int = 618, prefix: str = "demo", now: dt.datetime | None = None) -> list:
    rng = random.Random(seed)
    now = now or dt.datetime.now(dt.UTC)
    budgets = _budgets(count, events, rng)
    out = []
    for n in range(count):
        platform = rng.choices(PLATFORMS, PLATFORM_WEIGHTS)[0]
        devices = [(platform, f"{prefix}-{platform}-{n:06d}")]
        # One in eight app or web shoppers also uses the other: stitched by the user id.
        if platform != "mini_program" and rng.random() < 0.125:
            other = "web" if platform == "app" else "app"
            devices.append((other, f"{prefix}-{other}-{n:06d}"))
        gender = rng.choice(["female", "female", "male"])
        age_band = rng.choice(AGE_BANDS)
        traits = {
            "name": f"顾客{n:06d}",
            "gender": gender,
            "age_band": age_band,
            "age": int(age_band[:2]) + rng.randrange(7),
            "city": rng.choice(CITIES),
            "vip": rng.random() < (0.4 if gender == "female" and age_band == "25-34" else 0.15),
            "email": f"{prefix}.shopper{n}@example.com",
        }
        if rng.random() < 0.6:
            traits["phone"] = f"+86139{n:08d}"
        openid = None
        if platform == "mini_program" or rng.random() < 0.2:
            openid = f"o{prefix}{n:010d}wx"
        out.append(
            Shopper(
                n=n,
                user_id=f"u{n:05d}",  # as the README examples ask for u00001
                devices=devices,
                traits=traits,
                channel=rng.choices(CHANNELS, CHANNEL_WEIGHTS)[0],
                budget=budgets[n],
                openid=openid,
                prefix=prefix,
                first_seen=now - dt.timedelta(days=DAYS) + dt.timedelta(seconds=rng.randrange(DAYS * 86400 - 3600)),
            )
        )
    return out


def _context(platform: str, device: str, shopper: Shopper, first: bool) -> dict:
    ctx: dict = {"device": {"id": device}} if platform != "web" else {}
    if platform == "app":
        ctx["app"] = {"name": "鲜生活", "version": "5.2.0"}
        ctx["os"] = {"name": "iOS" if shopper.n % 3 else "Android"}
    elif platform == "mini_program":
        ctx["app"] = {"name": "鲜生活小程序", "namespace": "wechat.miniprogram"}
    else:
        ctx["userAgent"] = "Mozilla/5.0 (Macintosh) Safari/605.1.15"
    ctx["channel"] = platform
    if first and shopper.channel:
        source, medium, name = shopper.channel
        ctx["campaign"] = {"source": source, "medium": medium, "name": name}
    return ctx


def shopper_events(shopper: Shopper, rng: random.Random, now: dt.datetime) -> list[dict]:
    """One shopper's history, oldest first, exactly `shopper.budget` events."""
    out: list[dict] = []
    at = shopper.first_seen
    remaining = (now - at).total_seconds()
    step = max(60.0, remaining / (shopper.budget + 1))
    identified = False
    cart: list[tuple] = []
    orders: list[tuple[str, float]] = []
    k = 0

    def emit(platform: str, device: str, body: dict) -> None:
        nonlocal k, at
        body["messageId"] = f"{shopper.prefix}-{shopper.user_id}-{k}"
        body["anonymousId"] = device
        if identified:
            body["userId"] = shopper.user_id
        body["timestamp"] = at.isoformat().replace("+00:00", "Z")
        body.setdefault("context", {}).update(_context(platform, device, shopper, first=k == 0))
        out.append(body)
        k += 1
        at = min(now - dt.timedelta(seconds=1), at + dt.timedelta(seconds=rng.uniform(0.3, 1.7) * step))

    while k < shopper.budget:
        # The first visit and identify on the first device; a second device from the third event on.
        platform, device = shopper.devices[(k + 1) % len(shopper.devices)] if k > 1 else shopper.devices[0]
        left = shopper.budget - k
        if k == 0:
            page = rng.choice(PAGES)
            if platform == "web":
                emit(platform, device, {"type": "page", "name": page, "properties": {"path": f"/{page.lower()}"}})
            else:
                emit(platform, device, {"type": "screen", "name": page})
            continue
        if not identified or (len(shopper.devices) > 1 and k == 2):
            identified = True
            traits = dict(shopper.traits)
            if shopper.openid and platform != "web":
                traits["wechat_openid"] = shopper.openid
            emit(platform, device, {"type": "identify", "userId": shopper.user_id, "traits": traits})
            continue
        if orders and left >= 1 and rng.random() < 0.06:
            order_id, revenue = orders.pop(rng.randrange(len(orders)))
            props = {"order_id": order_id, "total": revenue, "currency": "CNY", "reason": "quality"}
            emit(platform, device, {"type": "track", "event": "Order Refunded", "properties": props})
            continue
        if cart and left >= 2 and rng.random() < 0.7:
            revenue = round(sum(p[4] * q for p, q in cart), 2)
            order_id = f"{shopper.prefix}-{shopper.user_id}-o{k}"
            products = [
                {
                    "product_id": p[0],
                    "sku": p[0],
                    "name": p[1],
                    "category": p[2],
                    "brand": p[3],
                    "price": p[4],
                    "quantity": q,
                }
                for p, q in cart
            ]
            emit(
                platform,
                device,
                {
                    "type": "track",
                    "event": "Checkout Started",
                    "properties": {"order_id": order_id, "value": revenue, "products": products},
                },
            )
            props = {
                "order_id": order_id,
                "revenue": revenue,
                "total": revenue,
                "currency": "CNY",
                "products": products,
                "payment_method": rng.choice(["wechat_pay", "alipay", "unionpay"]),
            }
            if rng.random() < 0.3:
                props["coupon"] = rng.choice(COUPONS)
                props["discount"] = 20.0
            emit(platform, device, {"type": "track", "event": "Order Completed", "properties": props})
            orders.append((order_id, revenue))
            cart = []
            continue
        product = rng.choice(PRODUCTS)
        props = {
            "product_id": product[0],
            "sku": product[0],
            "name": product[1],
            "category": product[2],
            "brand": product[3],
            "price": product[4],
        }
        if rng.random() < 0.45:
            qty = rng.randint(1, 3)
            cart.append((product, qty))
            emit(
                platform, device, {"type": "track", "event": "Product Added", "properties": {**props, "quantity": qty}}
            )
        else:
            emit(platform, device, {"type": "track", "event": "Product Viewed", "properties": props})
    return out


def events(count: int, total: int, seed: int = 618, prefix: str = "demo", now: dt.datetime | None = None) -> list:
    """`total` events of `count` shoppers, each shopper's in time order, shoppers interleaved in sessions.

    The same (count, total, seed, prefix, now) gives the same list; `now`
    defaults to the current day at midnight UTC, so a day's loads agree.
    """
    now = now or dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    people = shoppers(count, total, seed, prefix, now)
    rng = random.Random(seed + 1)
    histories = [shopper_events(s, rng, now) for s in people]
    # Arrival: shoppers' histories in the order of their first visit, a few at once.
    histories.sort(key=lambda h: h[0]["timestamp"])
    out = []
    for i in range(0, len(histories), 20):
        group = [list(h) for h in histories[i : i + 20]]
        while group:
            j = rng.randrange(len(group))
            out.append(group[j].pop(0))
            if not group[j]:
                group.pop(j)
    return out
