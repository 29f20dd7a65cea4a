"""The fixed calibration texts for the int8 scale of encoders that are not pplx-embed.

Varied in topic, length and register so the scale reflects ordinary inputs, and shipped in the code
so the same model always calibrates to the same scale (the scale is part of the collection's
fingerprint).
"""

from __future__ import annotations

CALIBRATION_TEXTS: tuple[str, ...] = (
    "How do I reset my password if I no longer have access to my email?",
    "The mitochondria is the powerhouse of the cell.",
    "Quarterly revenue grew 12 percent, driven by subscriptions in Europe.",
    "What are the side effects of ibuprofen?",
    "In 1969 Apollo 11 landed on the Moon and Neil Armstrong walked on its surface.",
    "Preheat the oven to 200 degrees and bake the bread for forty minutes.",
    "def add(a, b): return a + b",
    "The court ruled that the contract was void because it lacked consideration.",
    "Symptoms of COVID-19 include fever, cough and loss of taste or smell.",
    "Rotate the API keys every ninety days and store them in a secrets manager.",
    "A transformer encoder maps a sequence of tokens to contextual vectors.",
    "The river flooded the valley after three days of heavy rain.",
    "Which train goes to the airport on Sundays?",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "The patient was prescribed antibiotics for a bacterial infection of the lungs.",
    "Interest rates rose sharply, and mortgage applications fell to a ten-year low.",
    "She played the violin at the concert hall every Friday evening.",
    "To install the package, run pip install and restart the server.",
    "Vaccines train the immune system to recognise a virus without causing disease.",
    "The museum's collection includes paintings from the Dutch Golden Age.",
    "Error: connection refused while connecting to the database on port 5432.",
    "Children learn languages faster when they hear them spoken at home.",
    "The recipe calls for two eggs, a cup of flour and a pinch of salt.",
    "Binary quantization stores one bit per dimension and compares vectors by Hamming distance.",
    "ok",
    "Climate models predict more frequent heatwaves in southern Europe by 2050, with consequences "
    "for agriculture, water supply and public health that governments are only beginning to plan for.",
)
