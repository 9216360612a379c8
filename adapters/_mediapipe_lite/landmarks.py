"""Landmark names and connections of MediaPipe's face mesh, hands and pose, without mediapipe.

The same values as ``mediapipe.python.solutions`` 0.10.21 (Apache-2.0): FACEMESH_CONTOURS and
FACEMESH_IRISES, HandLandmark and HAND_CONNECTIONS, PoseLandmark and POSE_CONNECTIONS.
"""

FACE_CONTOURS_AND_IRISES = (
    (0, 267), (7, 163), (10, 338), (13, 312), (14, 317), (17, 314), (21, 54), (33, 7), (33, 246), (37,
    0), (39, 37), (40, 39), (46, 53), (52, 65), (53, 52), (54, 103), (58, 132), (61, 146), (61, 185),
    (63, 105), (65, 55), (66, 107), (67, 109), (70, 63), (78, 95), (78, 191), (80, 81), (81, 82), (82,
    13), (84, 17), (87, 14), (88, 178), (91, 181), (93, 234), (95, 88), (103, 67), (105, 66), (109, 10),
    (127, 162), (132, 93), (136, 172), (144, 145), (145, 153), (146, 91), (148, 176), (149, 150), (150,
    136), (152, 148), (153, 154), (154, 155), (155, 133), (157, 173), (158, 157), (159, 158), (160,
    159), (161, 160), (162, 21), (163, 144), (172, 58), (173, 133), (176, 149), (178, 87), (181, 84),
    (185, 40), (191, 80), (234, 127), (246, 161), (249, 390), (251, 389), (263, 249), (263, 466), (267,
    269), (269, 270), (270, 409), (276, 283), (282, 295), (283, 282), (284, 251), (288, 397), (293,
    334), (295, 285), (296, 336), (297, 332), (300, 293), (310, 415), (311, 310), (312, 311), (314,
    405), (317, 402), (318, 324), (321, 375), (323, 361), (324, 308), (332, 284), (334, 296), (338,
    297), (356, 454), (361, 288), (365, 379), (373, 374), (374, 380), (375, 291), (377, 152), (378,
    400), (379, 378), (380, 381), (381, 382), (382, 362), (384, 398), (385, 384), (386, 385), (387,
    386), (388, 387), (389, 356), (390, 373), (397, 365), (398, 362), (400, 377), (402, 318), (405,
    321), (409, 291), (415, 308), (454, 323), (466, 388), (469, 470), (470, 471), (471, 472), (472,
    469), (474, 475), (475, 476), (476, 477), (477, 474)
)

HAND_LANDMARKS = (
    'wrist', 'thumb_cmc', 'thumb_mcp', 'thumb_ip', 'thumb_tip', 'index_finger_mcp', 'index_finger_pip',
    'index_finger_dip', 'index_finger_tip', 'middle_finger_mcp', 'middle_finger_pip',
    'middle_finger_dip', 'middle_finger_tip', 'ring_finger_mcp', 'ring_finger_pip', 'ring_finger_dip',
    'ring_finger_tip', 'pinky_mcp', 'pinky_pip', 'pinky_dip', 'pinky_tip'
)

HAND_CONNECTIONS = (
    (0, 1), (0, 5), (0, 17), (1, 2), (2, 3), (3, 4), (5, 6), (5, 9), (6, 7), (7, 8), (9, 10), (9, 13),
    (10, 11), (11, 12), (13, 14), (13, 17), (14, 15), (15, 16), (17, 18), (18, 19), (19, 20)
)

POSE_LANDMARKS = (
    'nose', 'left_eye_inner', 'left_eye', 'left_eye_outer', 'right_eye_inner', 'right_eye',
    'right_eye_outer', 'left_ear', 'right_ear', 'mouth_left', 'mouth_right', 'left_shoulder',
    'right_shoulder', 'left_elbow', 'right_elbow', 'left_wrist', 'right_wrist', 'left_pinky',
    'right_pinky', 'left_index', 'right_index', 'left_thumb', 'right_thumb', 'left_hip', 'right_hip',
    'left_knee', 'right_knee', 'left_ankle', 'right_ankle', 'left_heel', 'right_heel',
    'left_foot_index', 'right_foot_index'
)

POSE_CONNECTIONS = (
    (0, 1), (0, 4), (1, 2), (2, 3), (3, 7), (4, 5), (5, 6), (6, 8), (9, 10), (11, 12), (11, 13), (11,
    23), (12, 14), (12, 24), (13, 15), (14, 16), (15, 17), (15, 19), (15, 21), (16, 18), (16, 20), (16,
    22), (17, 19), (18, 20), (23, 24), (23, 25), (24, 26), (25, 27), (26, 28), (27, 29), (27, 31), (28,
    30), (28, 32), (29, 31), (30, 32)
)
