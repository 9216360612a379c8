{
 "patcher": {
  "fileversion": 1,
  "appversion": {
   "major": 8,
   "minor": 6,
   "revision": 0,
   "architecture": "x64",
   "modernui": 1
  },
  "classnamespace": "box",
  "rect": [
   100.0,
   100.0,
   700.0,
   480.0
  ],
  "openinpresentation": 0,
  "default_fontsize": 12.0,
  "gridsize": [
   15.0,
   15.0
  ],
  "boxes": [
   {
    "box": {
     "id": "obj-1",
     "maxclass": "comment",
     "text": "runway-bridge over OSC. Start: runway-bridge serve --model pose --model text_ngram --source pose=0",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      20,
      15,
      620,
      22.0
     ]
    }
   },
   {
    "box": {
     "id": "obj-2",
     "maxclass": "comment",
     "text": "1. click to connect (results then come to port 57200); disconnect when done",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      20,
      45,
      450,
      22.0
     ]
    }
   },
   {
    "box": {
     "id": "obj-3",
     "maxclass": "message",
     "text": "/server/connect 57200",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      20,
      75,
      140,
      22.0
     ],
     "outlettype": [
      ""
     ]
    }
   },
   {
    "box": {
     "id": "obj-4",
     "maxclass": "message",
     "text": "/server/disconnect 57200",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      170,
      75,
      150,
      22.0
     ],
     "outlettype": [
      ""
     ]
    }
   },
   {
    "box": {
     "id": "obj-5",
     "maxclass": "comment",
     "text": "2. ask the text model for a sentence (its answer arrives at /text_ngram/data)",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      20,
      110,
      450,
      22.0
     ]
    }
   },
   {
    "box": {
     "id": "obj-6",
     "maxclass": "message",
     "text": "/text_ngram/query \"{\\\"prompt\\\": \\\"The \\\", \\\"length\\\": 80}\"",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      20,
      140,
      330,
      22.0
     ],
     "outlettype": [
      ""
     ]
    }
   },
   {
    "box": {
     "id": "obj-7",
     "maxclass": "newobj",
     "text": "udpsend 127.0.0.1 57100",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      20,
      185,
      150,
      22.0
     ]
    }
   },
   {
    "box": {
     "id": "obj-8",
     "maxclass": "newobj",
     "text": "udpreceive 57200",
     "numinlets": 1,
     "numoutlets": 1,
     "patching_rect": [
      20,
      240,
      110,
      22.0
     ],
     "outlettype": [
      ""
     ]
    }
   },
   {
    "box": {
     "id": "obj-9",
     "maxclass": "newobj",
     "text": "route /pose/landmarks/0/nose /pose/landmarks/0/left_wrist /pose/landmarks/0/right_wrist /pose/detected /text_ngram/data /text_ngram/error /error",
     "numinlets": 1,
     "numoutlets": 8,
     "patching_rect": [
      20,
      280,
      660,
      22.0
     ],
     "outlettype": [
      "",
      "",
      "",
      "",
      "",
      "",
      "",
      ""
     ]
    }
   },
   {
    "box": {
     "id": "obj-10",
     "maxclass": "newobj",
     "text": "unpack f f",
     "numinlets": 1,
     "numoutlets": 2,
     "patching_rect": [
      20,
      320,
      70,
      22.0
     ],
     "outlettype": [
      "",
      ""
     ]
    }
   },
   {
    "box": {
     "id": "obj-11",
     "maxclass": "newobj",
     "text": "unpack f f",
     "numinlets": 1,
     "numoutlets": 2,
     "patching_rect": [
      140,
      320,
      70,
      22.0
     ],
     "outlettype": [
      "",
      ""
     ]
    }
   },
   {
    "box": {
     "id": "obj-12",
     "maxclass": "newobj",
     "text": "unpack f f",
     "numinlets": 1,
     "numoutlets": 2,
     "patching_rect": [
      260,
      320,
      70,
      22.0
     ],
     "outlettype": [
      "",
      ""
     ]
    }
   },
   {
    "box": {
     "id": "obj-13",
     "maxclass": "flonum",
     "numinlets": 1,
     "numoutlets": 2,
     "patching_rect": [
      20,
      355,
      50,
      22.0
     ],
     "outlettype": [
      "",
      ""
     ],
     "format": 6
    }
   },
   {
    "box": {
     "id": "obj-14",
     "maxclass": "flonum",
     "numinlets": 1,
     "numoutlets": 2,
     "patching_rect": [
      70,
      355,
      50,
      22.0
     ],
     "outlettype": [
      "",
      ""
     ],
     "format": 6
    }
   },
   {
    "box": {
     "id": "obj-15",
     "maxclass": "flonum",
     "numinlets": 1,
     "numoutlets": 2,
     "patching_rect": [
      140,
      355,
      50,
      22.0
     ],
     "outlettype": [
      "",
      ""
     ],
     "format": 6
    }
   },
   {
    "box": {
     "id": "obj-16",
     "maxclass": "flonum",
     "numinlets": 1,
     "numoutlets": 2,
     "patching_rect": [
      190,
      355,
      50,
      22.0
     ],
     "outlettype": [
      "",
      ""
     ],
     "format": 6
    }
   },
   {
    "box": {
     "id": "obj-17",
     "maxclass": "flonum",
     "numinlets": 1,
     "numoutlets": 2,
     "patching_rect": [
      260,
      355,
      50,
      22.0
     ],
     "outlettype": [
      "",
      ""
     ],
     "format": 6
    }
   },
   {
    "box": {
     "id": "obj-18",
     "maxclass": "flonum",
     "numinlets": 1,
     "numoutlets": 2,
     "patching_rect": [
      310,
      355,
      50,
      22.0
     ],
     "outlettype": [
      "",
      ""
     ],
     "format": 6
    }
   },
   {
    "box": {
     "id": "obj-19",
     "maxclass": "flonum",
     "numinlets": 1,
     "numoutlets": 2,
     "patching_rect": [
      380,
      320,
      50,
      22.0
     ],
     "outlettype": [
      "",
      ""
     ]
    }
   },
   {
    "box": {
     "id": "obj-20",
     "maxclass": "newobj",
     "text": "print text_ngram",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      440,
      320,
      100,
      22.0
     ]
    }
   },
   {
    "box": {
     "id": "obj-21",
     "maxclass": "newobj",
     "text": "print runway-error",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      560,
      320,
      110,
      22.0
     ]
    }
   },
   {
    "box": {
     "id": "obj-22",
     "maxclass": "comment",
     "text": "nose x y, left wrist x y, right wrist x y (0..1, from the top left); detected 1/0",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      20,
      390,
      520,
      22.0
     ]
    }
   },
   {
    "box": {
     "id": "obj-23",
     "maxclass": "comment",
     "text": "The text and errors are JSON strings: see the Max console.",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      20,
      415,
      520,
      22.0
     ]
    }
   }
  ],
  "lines": [
   {
    "patchline": {
     "source": [
      "obj-10",
      0
     ],
     "destination": [
      "obj-13",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-10",
      1
     ],
     "destination": [
      "obj-14",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-11",
      0
     ],
     "destination": [
      "obj-15",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-11",
      1
     ],
     "destination": [
      "obj-16",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-12",
      0
     ],
     "destination": [
      "obj-17",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-12",
      1
     ],
     "destination": [
      "obj-18",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-3",
      0
     ],
     "destination": [
      "obj-7",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-4",
      0
     ],
     "destination": [
      "obj-7",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-6",
      0
     ],
     "destination": [
      "obj-7",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-8",
      0
     ],
     "destination": [
      "obj-9",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-9",
      0
     ],
     "destination": [
      "obj-10",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-9",
      1
     ],
     "destination": [
      "obj-11",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-9",
      2
     ],
     "destination": [
      "obj-12",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-9",
      3
     ],
     "destination": [
      "obj-19",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-9",
      4
     ],
     "destination": [
      "obj-20",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-9",
      5
     ],
     "destination": [
      "obj-21",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-9",
      6
     ],
     "destination": [
      "obj-21",
      0
     ]
    }
   }
  ],
  "dependency_cache": [],
  "autosave": 0
 }
}
