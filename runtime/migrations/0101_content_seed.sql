-- Seed data: KB domains as in the old database, the Knowledge Bowl module, a starter
-- set of system KB questions in a system pack, and a small real system curriculum.
-- System rows have tenant_id NULL: readable by every tenant, writable by none.

insert into kb_domains (id, name, icon_name, weight, subcategories, sort_order) values
    ('science', 'Science', 'atom', 0.2, array['biology', 'chemistry', 'physics', 'earth_science', 'astronomy']::text[], 0),
    ('mathematics', 'Mathematics', 'function', 0.15, array['arithmetic', 'algebra', 'geometry', 'statistics', 'calculus']::text[], 1),
    ('literature', 'Literature', 'book', 0.12, array['american', 'british', 'world', 'poetry', 'drama']::text[], 2),
    ('history', 'History', 'clock', 0.12, array['us_history', 'world_history', 'ancient', 'modern']::text[], 3),
    ('social_studies', 'Social Studies', 'globe', 0.1, array['geography', 'government', 'economics', 'civics']::text[], 4),
    ('arts', 'Fine Arts', 'paintpalette', 0.08, array['visual_arts', 'music', 'architecture', 'theater']::text[], 5),
    ('current_events', 'Current Events', 'newspaper', 0.08, array['politics', 'science_news', 'world_news']::text[], 6),
    ('language', 'Language', 'character.bubble', 0.05, array['grammar', 'vocabulary', 'etymology', 'foreign_language']::text[], 7),
    ('technology', 'Technology', 'cpu', 0.04, array['computing', 'engineering', 'inventions']::text[], 8),
    ('pop_culture', 'Pop Culture', 'star', 0.03, array['film', 'television', 'sports', 'games']::text[], 9),
    ('religion_philosophy', 'Religion & Philosophy', 'book.closed', 0.02, array['philosophy', 'mythology', 'world_religions']::text[], 10),
    ('miscellaneous', 'Miscellaneous', 'questionmark.circle', 0.01, array['general']::text[], 11);

insert into kb_questions (id, tenant_id, domain_id, subcategory, question_text, answer_text, acceptable_answers,
    difficulty, question_type, explanation, difficulty_tier, question_source, status) values
    ('sys-scie-001', null, 'science', 'chemistry', 'What element has the chemical symbol Fe?', 'Iron', array['Iron', 'iron']::text[], 2, 'toss_up', 'Fe comes from the Latin word ferrum.', 'middle_school', 'custom', 'active'),
    ('sys-scie-002', null, 'science', 'astronomy', 'Which planet in our solar system has the most moons confirmed as of 2023?', 'Saturn', array['Saturn', 'saturn']::text[], 3, 'toss_up', 'Saturn overtook Jupiter in 2023 with more than 140 confirmed moons.', 'middle_school', 'custom', 'active'),
    ('sys-math-001', null, 'mathematics', 'arithmetic', 'What is the smallest prime number?', '2', array['2', 'two', '2']::text[], 1, 'toss_up', '2 is the only even prime number.', 'middle_school', 'custom', 'active'),
    ('sys-math-002', null, 'mathematics', 'geometry', 'How many degrees are in the interior angles of a triangle combined?', '180', array['180', '180 degrees', 'one hundred eighty']::text[], 1, 'toss_up', 'In Euclidean geometry the angles of a triangle sum to 180 degrees.', 'middle_school', 'custom', 'active'),
    ('sys-lite-001', null, 'literature', 'american', 'Who wrote the novel To Kill a Mockingbird?', 'Harper Lee', array['Harper Lee', 'lee', 'nelle harper lee']::text[], 2, 'toss_up', 'Published in 1960, it won the Pulitzer Prize in 1961.', 'middle_school', 'custom', 'active'),
    ('sys-lite-002', null, 'literature', 'british', 'In which Shakespeare play does the character Prospero appear?', 'The Tempest', array['The Tempest', 'tempest']::text[], 3, 'toss_up', 'Prospero is the exiled Duke of Milan in The Tempest.', 'middle_school', 'custom', 'active'),
    ('sys-hist-001', null, 'history', 'us_history', 'In what year was the United States Declaration of Independence signed?', '1776', array['1776', 'seventeen seventy six']::text[], 1, 'toss_up', 'It was adopted by the Continental Congress on July 4, 1776.', 'middle_school', 'custom', 'active'),
    ('sys-hist-002', null, 'history', 'ancient', 'Which ancient wonder stood in the harbor of Rhodes?', 'The Colossus of Rhodes', array['The Colossus of Rhodes', 'colossus', 'colossus of rhodes']::text[], 3, 'toss_up', 'The bronze statue of Helios was toppled by an earthquake in 226 BC.', 'middle_school', 'custom', 'active'),
    ('sys-soci-001', null, 'social_studies', 'geography', 'What is the longest river in South America?', 'The Amazon', array['The Amazon', 'amazon', 'amazon river']::text[], 2, 'toss_up', 'The Amazon is also the largest river in the world by discharge.', 'middle_school', 'custom', 'active'),
    ('sys-soci-002', null, 'social_studies', 'government', 'How many justices sit on the United States Supreme Court?', 'Nine', array['Nine', '9']::text[], 1, 'toss_up', 'The number has been nine since 1869.', 'middle_school', 'custom', 'active'),
    ('sys-arts-001', null, 'arts', 'visual_arts', 'Which Dutch painter created The Starry Night?', 'Vincent van Gogh', array['Vincent van Gogh', 'van gogh', 'vincent van gogh']::text[], 2, 'toss_up', 'He painted it in 1889 at the asylum in Saint-Remy-de-Provence.', 'middle_school', 'custom', 'active'),
    ('sys-arts-002', null, 'arts', 'music', 'How many keys are on a standard modern piano?', '88', array['88', 'eighty eight', 'eighty-eight']::text[], 2, 'toss_up', '52 white keys and 36 black keys.', 'middle_school', 'custom', 'active'),
    ('sys-curr-001', null, 'current_events', 'science_news', 'Which space telescope, launched in 2021, observes mainly in infrared light?', 'The James Webb Space Telescope', array['The James Webb Space Telescope', 'james webb', 'webb', 'jwst']::text[], 2, 'toss_up', 'It orbits near the second Lagrange point, about 1.5 million km from Earth.', 'middle_school', 'custom', 'active'),
    ('sys-curr-002', null, 'current_events', 'world_news', 'Which city hosted the 2024 Summer Olympic Games?', 'Paris', array['Paris', 'paris france']::text[], 1, 'toss_up', 'Paris also hosted in 1900 and 1924.', 'middle_school', 'custom', 'active'),
    ('sys-lang-001', null, 'language', 'etymology', 'From which language does the English word kindergarten come?', 'German', array['German', 'german language']::text[], 2, 'toss_up', 'It means children''s garden; Friedrich Froebel coined it in 1840.', 'middle_school', 'custom', 'active'),
    ('sys-lang-002', null, 'language', 'grammar', 'What part of speech modifies a verb, adjective or another adverb?', 'An adverb', array['An adverb', 'adverb']::text[], 1, 'toss_up', 'Many adverbs end in -ly, such as quickly.', 'middle_school', 'custom', 'active'),
    ('sys-tech-001', null, 'technology', 'computing', 'What does the acronym CPU stand for?', 'Central Processing Unit', array['Central Processing Unit', 'central processing unit']::text[], 1, 'toss_up', 'The CPU executes the instructions of a program.', 'middle_school', 'custom', 'active'),
    ('sys-tech-002', null, 'technology', 'inventions', 'Who is credited with inventing the World Wide Web in 1989?', 'Tim Berners-Lee', array['Tim Berners-Lee', 'berners-lee', 'tim berners lee']::text[], 2, 'toss_up', 'He proposed it while working at CERN.', 'middle_school', 'custom', 'active'),
    ('sys-pop_-001', null, 'pop_culture', 'sports', 'In which sport is the Stanley Cup awarded?', 'Ice hockey', array['Ice hockey', 'hockey']::text[], 1, 'toss_up', 'It is the championship trophy of the National Hockey League.', 'middle_school', 'custom', 'active'),
    ('sys-pop_-002', null, 'pop_culture', 'film', 'Which animated film features a clownfish named Marlin searching for his son?', 'Finding Nemo', array['Finding Nemo', 'nemo']::text[], 1, 'toss_up', 'Pixar released it in 2003.', 'middle_school', 'custom', 'active'),
    ('sys-reli-001', null, 'religion_philosophy', 'philosophy', 'Which Greek philosopher was the teacher of Aristotle?', 'Plato', array['Plato', 'plato']::text[], 2, 'toss_up', 'Aristotle studied at Plato''s Academy in Athens for about twenty years.', 'middle_school', 'custom', 'active'),
    ('sys-reli-002', null, 'religion_philosophy', 'mythology', 'In Norse mythology, what is the name of Thor''s hammer?', 'Mjolnir', array['Mjolnir', 'mjollnir', 'mjölnir']::text[], 2, 'toss_up', 'Mjolnir was forged by the dwarves Brokkr and Eitri.', 'middle_school', 'custom', 'active'),
    ('sys-misc-001', null, 'miscellaneous', 'general', 'How many minutes are there in a full day?', '1440', array['1440', 'one thousand four hundred forty', '1,440']::text[], 2, 'toss_up', '24 hours times 60 minutes.', 'middle_school', 'custom', 'active'),
    ('sys-misc-002', null, 'miscellaneous', 'general', 'What color do you get by mixing blue and yellow paint?', 'Green', array['Green', 'green']::text[], 1, 'toss_up', 'Blue and yellow are subtractive primaries whose mix absorbs red.', 'middle_school', 'custom', 'active');

insert into kb_packs (id, tenant_id, name, description, type, difficulty_tier, status) values
    ('pack-starter', null, 'Starter Pack', 'Two questions from every Knowledge Bowl domain to warm up with.', 'system', 'middle_school', 'active');
insert into kb_pack_questions (tenant_id, pack_id, question_id, position) values
    (null, 'pack-starter', 'sys-scie-001', 0),
    (null, 'pack-starter', 'sys-scie-002', 1),
    (null, 'pack-starter', 'sys-math-001', 2),
    (null, 'pack-starter', 'sys-math-002', 3),
    (null, 'pack-starter', 'sys-lite-001', 4),
    (null, 'pack-starter', 'sys-lite-002', 5),
    (null, 'pack-starter', 'sys-hist-001', 6),
    (null, 'pack-starter', 'sys-hist-002', 7),
    (null, 'pack-starter', 'sys-soci-001', 8),
    (null, 'pack-starter', 'sys-soci-002', 9),
    (null, 'pack-starter', 'sys-arts-001', 10),
    (null, 'pack-starter', 'sys-arts-002', 11),
    (null, 'pack-starter', 'sys-curr-001', 12),
    (null, 'pack-starter', 'sys-curr-002', 13),
    (null, 'pack-starter', 'sys-lang-001', 14),
    (null, 'pack-starter', 'sys-lang-002', 15),
    (null, 'pack-starter', 'sys-tech-001', 16),
    (null, 'pack-starter', 'sys-tech-002', 17),
    (null, 'pack-starter', 'sys-pop_-001', 18),
    (null, 'pack-starter', 'sys-pop_-002', 19),
    (null, 'pack-starter', 'sys-reli-001', 20),
    (null, 'pack-starter', 'sys-reli-002', 21),
    (null, 'pack-starter', 'sys-misc-001', 22),
    (null, 'pack-starter', 'sys-misc-002', 23);

insert into content_modules (id, name, description, long_description, icon_name, theme_color_hex, version, enabled,
    supports_team_mode, supports_speed_training, supports_competition_sim, study_modes, settings, sort_order) values
    ('knowledge-bowl', 'Knowledge Bowl', 'Academic competition practice across twelve domains.',
     'Practice toss-up questions from science to fine arts, alone or as a team, with spoken questions and timed speed rounds.',
     'brain.head.profile', '#4F46E5', '1.0.0', true, true, true, true, '[{"id": "quick_practice", "name": "Quick Practice", "description": "Ten mixed questions, hints allowed.", "icon_name": "bolt", "question_count": 10, "time_limit_seconds": null, "allow_hints": true, "shuffle_questions": true}, {"id": "speed_round", "name": "Speed Round", "description": "Answer as many as you can in two minutes.", "icon_name": "timer", "question_count": 20, "time_limit_seconds": 120, "allow_hints": false, "shuffle_questions": true}, {"id": "domain_focus", "name": "Domain Focus", "description": "Work through one domain at your own pace.", "icon_name": "scope", "question_count": 0, "time_limit_seconds": null, "allow_hints": true, "shuffle_questions": false}]'::jsonb, '{"default_time_per_question": 15, "confer_time_seconds": 5, "enable_spoken_questions": true, "enable_spoken_answers": true, "minimum_mastery_for_completion": 0.8}'::jsonb, 0);

insert into curricula (tenant_id, id, title, description, version, difficulty, age_range, duration, keywords,
    topic_count, visual_asset_count, document) values (null, 'solar-system-intro', 'Our Solar System', 'A short spoken tour of the Sun, the planets and the smaller bodies that orbit them, for curious learners aged 10 to 14.',
    '1.0.0', 'easy', '10-14', 'PT40M', array['astronomy', 'planets', 'Sun', 'solar system', 'science']::text[],
    3, 0, $umcf${
 "formatIdentifier": "umcf",
 "umcf": "1.1.0",
 "id": {
  "catalog": "unamentis",
  "value": "solar-system-intro"
 },
 "title": "Our Solar System",
 "description": "A short spoken tour of the Sun, the planets and the smaller bodies that orbit them, for curious learners aged 10 to 14.",
 "version": {
  "number": "1.0.0",
  "date": "2026-11-01"
 },
 "lifecycle": {
  "status": "final",
  "contributors": [
   {
    "name": "UnaMentis Cloud",
    "role": "author"
   }
  ]
 },
 "metadata": {
  "language": "en-US",
  "keywords": [
   "astronomy",
   "planets",
   "Sun",
   "solar system",
   "science"
  ]
 },
 "educational": {
  "typicalAgeRange": "10-14",
  "difficulty": "easy",
  "typicalLearningTime": "PT40M"
 },
 "rights": {
  "license": {
   "type": "CC-BY-4.0",
   "url": "https://creativecommons.org/licenses/by/4.0/"
  }
 },
 "glossary": {
  "terms": [
   {
    "id": "term-orbit",
    "term": "orbit",
    "definition": "The curved path an object follows around a star, planet or moon because of gravity."
   },
   {
    "id": "term-astronomical-unit",
    "term": "astronomical unit",
    "definition": "The average distance between the Earth and the Sun, about 150 million kilometres."
   },
   {
    "id": "term-dwarf-planet",
    "term": "dwarf planet",
    "definition": "A body that orbits the Sun and is round, but has not cleared other objects from its orbit, such as Pluto."
   }
  ]
 },
 "content": [
  {
   "id": {
    "value": "course-solar-system"
   },
   "title": "Our Solar System",
   "type": "curriculum",
   "learningObjectives": [
    {
     "id": {
      "value": "obj-order"
     },
     "statement": "Name the eight planets in order from the Sun",
     "bloomsLevel": "remember"
    },
    {
     "id": {
      "value": "obj-rocky-giant"
     },
     "statement": "Explain the difference between rocky planets and giant planets",
     "bloomsLevel": "understand"
    },
    {
     "id": {
      "value": "obj-gravity"
     },
     "statement": "Describe how gravity keeps the planets in orbit",
     "bloomsLevel": "understand"
    }
   ],
   "children": [
    {
     "id": {
      "value": "topic-sun"
     },
     "title": "The Sun, Our Star",
     "type": "topic",
     "orderIndex": 0,
     "description": "What the Sun is made of and why it shines.",
     "timeEstimates": {
      "introductory": "PT10M"
     },
     "transcript": {
      "segments": [
       {
        "id": "seg-sun-1",
        "type": "introduction",
        "content": "Let's start our tour at the very centre of the solar system: the Sun. The Sun is a star, just like the tiny points of light you see at night, only much, much closer."
       },
       {
        "id": "seg-sun-2",
        "type": "explanation",
        "content": "The Sun is a giant ball of hot gas, mostly hydrogen and helium. Deep in its core, hydrogen atoms are squeezed together so hard that they fuse into helium, and that fusion releases the energy that makes the Sun shine."
       },
       {
        "id": "seg-sun-3",
        "type": "explanation",
        "content": "The Sun holds more than ninety-nine percent of all the mass in the solar system. Its gravity is what keeps every planet, asteroid and comet travelling around it."
       },
       {
        "id": "seg-sun-4",
        "type": "checkpoint",
        "content": "Quick check: in your own words, why does the Sun shine?"
       }
      ]
     },
     "misconceptions": [
      {
       "trigger_phrase": "the sun is on fire",
       "misconception": "The Sun burns like a campfire.",
       "remediation": "The Sun does not burn with oxygen; it shines because of nuclear fusion in its core."
      }
     ],
     "assessments": [
      {
       "id": "assess-sun-1",
       "type": "multiple_choice",
       "question": "What process powers the Sun?",
       "options": [
        "Burning coal",
        "Nuclear fusion",
        "Lightning"
       ],
       "answer": "Nuclear fusion"
      }
     ]
    },
    {
     "id": {
      "value": "topic-rocky-planets"
     },
     "title": "The Rocky Planets",
     "type": "topic",
     "orderIndex": 1,
     "description": "Mercury, Venus, Earth and Mars.",
     "timeEstimates": {
      "introductory": "PT15M"
     },
     "content": {
      "text": "The four planets closest to the Sun are Mercury, Venus, Earth and Mars. They are called the rocky or terrestrial planets because they have solid surfaces made of rock and metal.\n\nMercury is the smallest planet and the closest to the Sun. It has almost no atmosphere, so its days are scorching and its nights are freezing. Venus is about the same size as Earth, but its thick clouds of carbon dioxide trap heat, making it the hottest planet of all.\n\nEarth is the only planet we know of with liquid water on its surface and with life. Mars is a cold desert world with a thin atmosphere, red because its soil contains iron oxide, which is rust. Mars has the tallest volcano in the solar system, Olympus Mons."
     },
     "examples": [
      {
       "id": "ex-venus",
       "content": "Venus is hotter than Mercury even though Mercury is closer to the Sun: a greenhouse effect at work."
      }
     ]
    },
    {
     "id": {
      "value": "topic-giant-planets"
     },
     "title": "The Giant Planets and Beyond",
     "type": "topic",
     "orderIndex": 2,
     "description": "Jupiter, Saturn, Uranus, Neptune, and the dwarf planets.",
     "timeEstimates": {
      "introductory": "PT15M"
     },
     "content": {
      "text": "Beyond Mars and the asteroid belt lie the four giant planets. Jupiter and Saturn are gas giants, made mostly of hydrogen and helium. Uranus and Neptune are ice giants, with a lot of water, ammonia and methane ice inside them.\n\nJupiter is the largest planet; more than a thousand Earths could fit inside it. Its Great Red Spot is a storm bigger than our whole planet. Saturn is famous for its bright rings, which are made of countless pieces of ice and rock.\n\nFar beyond Neptune is the Kuiper Belt, home to icy bodies such as Pluto. Since 2006, astronomers have called Pluto a dwarf planet, because it shares its orbit with many other objects."
     }
    }
   ]
  }
 ]
}$umcf$::jsonb);
