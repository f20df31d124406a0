"""Word lists for the demo catalog's artists, titles, albums and labels (all invented)."""

from __future__ import annotations

ADJECTIVES = (
    "Golden", "Silver", "Electric", "Midnight", "Paper", "Velvet", "Crystal", "Hollow", "Broken", "Quiet",
    "Wild", "Distant", "Burning", "Frozen", "Secret", "Endless", "Faded", "Northern", "Summer", "Winter",
    "Neon", "Lonely", "Crimson", "Gentle", "Hidden", "Restless", "Silent", "Bright", "Empty", "Falling",
    "Amber", "Wandering", "Sleepless", "Borrowed", "Painted", "Shallow", "Tender", "Glass", "Copper", "Scarlet",
    "Violet", "Hazy", "Salty", "Dusty", "Lucky", "Sacred", "Rusty", "Open", "Little", "Careless",
)
NOUNS = (
    "Rivers", "Hearts", "Lights", "Skies", "Roads", "Dreams", "Waves", "Shadows", "Mirrors", "Gardens",
    "Streets", "Letters", "Echoes", "Fires", "Oceans", "Stars", "Windows", "Horizons", "Rooms", "Signals",
    "Bridges", "Petals", "Storms", "Wires", "Moons", "Islands", "Engines", "Feathers", "Harbors", "Lanterns",
    "Machines", "Meadows", "Pictures", "Promises", "Satellites", "Seasons", "Anthems", "Stations", "Thunder",
    "Tides", "Towers", "Valleys", "Voices", "Wheels", "Whispers", "Wings", "Winds", "Kingdoms", "Canyons", "Ghosts",
)
ARTIST_FIRST = (
    "Nova", "Luma", "Kite", "Echo", "Mira", "Orbit", "Juno", "Vela", "Atlas", "Indigo", "Sable", "Koda",
    "Rook", "Lyra", "Cobalt", "Wren", "Solace", "Marlo", "Tiber", "Quill", "Arden", "Ember", "Halcyon", "Pike",
)
ARTIST_SECOND = (
    "Lane", "Park", "Club", "Parade", "Society", "Collective", "Hill", "Avenue", "Days", "Static", "Motel",
    "Choir", "Harbour", "Arcade", "Kids", "Machine", "Gardens", "Riot", "Theory", "Tapes",
)
GUESTS = ("Kid Orbit", "DJ Marlow", "Ivy Chen", "Lil Tempo", "Sasha Rae", "MC Juniper", "Rio Vance", "Dani K")
GENRES = ("Pop", "Rock", "Electronic", "R&B", "Indie", "K-Pop", "Dance", "Soul", "Folk", "Hip-Hop")
LABELS = ("Bright Tape Records", "Northway Music", "Lantern Audio", "Static Bloom", "Harbour Lights Ltd.")
PREFIX_WORDS = ("Again", "Tonight", "Forever", "Do")
ACCENTED = {"Café": "Cafe", "Señorita": "Senorita", "Déjà Vu": "Deja Vu", "Naïve": "Naive"}
