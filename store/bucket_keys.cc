namespace katamari {}
