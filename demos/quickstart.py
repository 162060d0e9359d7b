"""The README's first examples as a script: a function, its gradient, the gradient of its gradient, the
PyTorch-style backward(), and an order-2 gradient check. Prints what the README shows; takes seconds.

    python demos/quickstart.py
"""
import argparse

import numpy as np

import scratchgen as sg


def f(x):  # f(x) = sum of x^3
    return (x**3).sum()


def main(argv=None):
    argparse.ArgumentParser(
        prog="quickstart.py",
        description="The README's first examples: f(x) = sum of x^3 with its gradient 3x^2 and the gradient of "
                    "its gradient 6x (sg.grad), the gradient of log sigmoid by backward(), and an order-2 "
                    "gradient check of tanh(a @ b) against central differences. Takes no options.",
    ).parse_args(argv)
    x = sg.tensor([1.0, 2.0, 3.0])
    df = sg.grad(f)  # 3 x^2
    d2f = sg.grad(lambda x: df(x).sum())  # 6 x
    print(f(x))
    print(df(x))
    print(d2f(x))

    x = sg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    loss = sg.log_sigmoid(x).sum()
    loss.backward()
    print(x.grad)  # d/dx log sigmoid(x) = 1 - sigmoid(x)

    sg.check_grads(lambda a, b: sg.tanh(a @ b), np.ones((2, 3)), np.ones((3, 4)), order=2)
    print("check_grads: order-2 gradients of tanh(a @ b) agree with central differences")


if __name__ == "__main__":
    main()
