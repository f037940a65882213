# Seed note 004 (d2l 4.5.3, weight decay, concise version), as written in the note,
# with these changes only:
#   1. import: `from d2l import torch as d2l`  ->  `from reglab import d2l`
#   2. the notebook magic `%matplotlib inline` removed (not Python; reglab.d2l
#      shows figures inline in a notebook anyway).
#   3. defect fixed: `legend=['train''test']` is ONE string 'traintest' (implicit
#      concatenation); now `legend=['train', 'test']`.
#   4. the indentation lost in the web copy restored; the stray note line
#      "偏置参数没有衰减" turned into a comment; the book's calls
#      `train_concise(0)` and `train_concise(3)` added (the note shows only the function).
# tests/d2l/test_d2l_programs.py runs this file as is (100 epochs of 4 batches).
import torch
from torch import nn
from reglab import d2l

n_train, n_test, num_inputs, batch_size = 20, 100, 200, 5
true_w, true_b = torch.ones((num_inputs, 1)) * 0.01, 0.05
train_data = d2l.synthetic_data(true_w, true_b, n_train)
train_iter = d2l.load_array(train_data, batch_size)
test_data = d2l.synthetic_data(true_w, true_b, n_test)
test_iter = d2l.load_array(test_data, batch_size, is_train=False)


def train_concise(wd):
    net = nn.Sequential(nn.Linear(num_inputs, 1))
    for param in net.parameters():
        param.data.normal_()
    loss = nn.MSELoss(reduction='none')
    num_epochs, lr = 100, 0.003
    # 偏置参数没有衰减
    trainer = torch.optim.SGD([
        {"params": net[0].weight, 'weight_decay': wd},
        {"params": net[0].bias}], lr=lr)
    animator = d2l.Animator(xlabel='epochs', ylabel='loss', yscale='log',
                            xlim=[5, num_epochs], legend=['train', 'test'])
    for epoch in range(num_epochs):
        for X, y in train_iter:
            trainer.zero_grad()
            l = loss(net(X), y)
            l.mean().backward()
            trainer.step()
        if (epoch + 1) % 5 == 0:
            animator.add(epoch + 1,
                         (d2l.evaluate_loss(net, train_iter, loss),
                          d2l.evaluate_loss(net, test_iter, loss)))
    print('wL2范数:', net[0].weight.norm().item())


train_concise(0)
train_concise(3)
