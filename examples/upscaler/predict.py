"""The Cog tutorial's upscaler, small: an image and a scale in, the upscaled image out (PNG), on the CPU."""

import json

import torch
import torch.nn.functional as F
from PIL import Image

from cog import BasePredictor, Input, Path


class Upscaler(torch.nn.Module):
    def __init__(self, hidden: int = 8) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, hidden, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(hidden, 3, 3, padding=1)

    def forward(self, x: torch.Tensor, scale: float) -> torch.Tensor:
        up = F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)
        return (up + self.conv2(torch.relu(self.conv1(up)))).clamp(0.0, 1.0)


class Predictor(BasePredictor):
    def setup(self) -> None:
        with open("weights.json") as f:
            weights = json.load(f)
        self.model = Upscaler()
        self.model.load_state_dict({k: torch.tensor(v) for k, v in weights.items()})
        self.model.eval()

    def predict(
        self,
        image: Path = Input(description="Image to upscale"),
        scale: float = Input(description="Factor to scale the image by", default=2.0, ge=1.0, le=4.0),
    ) -> Path:
        img = Image.open(image).convert("RGB")
        x = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8)
        x = x.view(img.height, img.width, 3).permute(2, 0, 1).unsqueeze(0).float() / 255.0
        with torch.no_grad():
            y = self.model(x, scale)
        out = (y[0].permute(1, 2, 0) * 255.0).round().to(torch.uint8).contiguous()
        result = Image.frombytes("RGB", (out.shape[1], out.shape[0]), bytes(out.view(-1).tolist()))
        path = Path("/tmp/upscaled.png")
        result.save(path)
        return path
