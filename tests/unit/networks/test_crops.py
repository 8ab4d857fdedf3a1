"""Vectorised class-wise crops (all pairs, and the present pairs only) equal the straightforward loop
(docs/model.md §3.1)."""

import pytest
import torch

from smis.networks import class_crops, class_crops_loop, class_mean_colours, present_crops


@pytest.mark.parametrize("size", [(64, 64), (37, 53), (32, 64), (8, 8)])
@pytest.mark.parametrize("num_classes", [1, 5, 151])
def test_matches_loop_on_random_label_maps(size, num_classes):
    image = torch.rand(3, 3, *size) * 2 - 1
    label = torch.randint(0, min(num_classes, 7), (3, 1, *size))
    label[1] = torch.randint(0, num_classes, (1, *size))        # every class, scattered
    assert torch.equal(class_crops(image, label, num_classes),
                       class_crops_loop(image, label, num_classes))


def test_blobs_one_pixel_whole_image_and_absent_classes():
    H, W = 48, 80
    image = torch.rand(3, 3, H, W) * 2 - 1
    label = torch.zeros(3, 1, H, W, dtype=torch.int64)
    label[0, 0, 10:20, 30:55] = 1                               # a box
    label[0, 0, 33, 7] = 3                                      # one pixel
    label[0, 0, 40:, :5] = 2
    label[1] = 4                                                # a class covering the image
    yy, xx = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
    label[2, 0][(yy - 20) ** 2 + (xx - 40) ** 2 < 150] = 2      # a disc: box != mask
    crops = class_crops(image, label, 6)
    assert torch.equal(crops, class_crops_loop(image, label, 6))
    assert crops.shape == (3, 18, H, W)
    # class 3 is one pixel: its crop is that pixel's colour everywhere
    assert torch.equal(crops[0, 9:12], image[0, :, 33:34, 7:8].expand(3, H, W))
    # a class covering the image gives the image itself; absent classes give zeros
    assert torch.equal(crops[1, 12:15], image[1])
    assert not crops[1, :12].any() and not crops[1, 15:].any()
    assert not crops[0, 15:].any()


def test_class_major_channel_order():
    image = torch.rand(1, 3, 16, 16)
    label = torch.zeros(1, 1, 16, 16, dtype=torch.int64)
    label[..., 8:] = 1
    crops = class_crops(image, label, 2)
    # class 1 occupies the right half: its crop is the right half stretched to full width
    expected = torch.nn.functional.interpolate(image[..., 8:], size=(16, 16), mode="nearest")
    assert torch.equal(crops[:, 3:6], expected)


def test_present_crops_are_the_loops_nonzero_crops():
    C, H, W = 9, 40, 56
    image = torch.rand(3, 3, H, W) * 2 - 1
    label = torch.randint(0, 4, (3, 1, H, W))
    label[1] = 8                                                # one class covers image 1
    label[2, 0, 3, 5] = 6                                       # a one-pixel class
    crops, b, c = present_crops(image, label, C)
    pairs = [(i, k) for i in range(3) for k in range(C) if (label[i] == k).any()]
    assert list(zip(b.tolist(), c.tolist())) == pairs           # exactly the present pairs, in order
    assert crops.shape == (len(pairs), 3, H, W)
    loop = class_crops_loop(image, label, C).view(3, C, 3, H, W)
    assert torch.equal(crops, loop[b, c])


def test_image_gradient_matches_the_loop():
    image = (torch.rand(2, 3, 24, 40) * 2 - 1).requires_grad_()
    label = torch.randint(0, 5, (2, 1, 24, 40))
    label[0, 0, :12, :20] = 5
    weights = torch.randn(2, 18, 24, 40)
    (grad,) = torch.autograd.grad((class_crops(image, label, 6) * weights).sum(), image)
    (grad_loop,) = torch.autograd.grad((class_crops_loop(image, label, 6) * weights).sum(), image)
    torch.testing.assert_close(grad, grad_loop, rtol=1e-6, atol=1e-6)


def test_class_mean_colours_by_hand():
    """Each class's mean over its own pixels (the encoder's mean-colour input); absent: zero."""
    image = torch.rand(2, 3, 16, 24) * 2 - 1
    label = torch.randint(0, 3, (2, 1, 16, 24))
    label[1][label[1] == 1] = 0                                 # class 1 absent from image 1
    means = class_mean_colours(image, label, 5)
    assert means.shape == (2, 5, 3)
    for b in range(2):
        for c in range(5):
            mask = label[b, 0] == c
            expected = image[b][:, mask].mean(1) if mask.any() else torch.zeros(3)
            torch.testing.assert_close(means[b, c], expected)
