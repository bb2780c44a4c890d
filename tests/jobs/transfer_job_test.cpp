// The transfer job and the audit's threat table.
#include "foil/jobs/transfer_job.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "attacks/attack_test_util.h"
#include "foil/core/error.h"
#include "foil/jobs/attack_job.h"
#include "foil/jobs/threats.h"
#include "foil/models/zoo.h"
#include "foil/train/trainer.h"
#include "test_util.h"

namespace foil {
namespace {

/// A second, different model for the same task: an MLP trained for one epoch on 3000 images.
std::shared_ptr<Model> small_mlp() {
  static std::shared_ptr<Model> mlp = [] {
    torch::manual_seed(0);
    return std::shared_ptr<Model>(train_model(TrainOptions().arch("mlp").epochs(1),
                                              load_data("fashion-mnist:train:3000"),
                                              load_data("fashion-mnist:test:200")));
  }();
  return mlp;
}

TEST(Transfer, TheDiagonalIsTheWhiteBoxRun) {
  auto cnn = test::cnn_model();
  auto mlp = small_mlp();
  const Dataset data = open_data("fashion-mnist:test:40", *cnn);
  TransferOptions o;
  o.attacks = {"mifgsm", "vmi-fgsm"};
  o.attack = AttackOptions().eps(0.1).alpha(0.01).steps(5);
  const TransferResult r = run_transfer({cnn.get(), mlp.get()}, data, o);
  ASSERT_EQ(r.matrices.size(), 2u);
  for (const TransferMatrix& m : r.matrices) {
    for (size_t i = 0; i < 2; ++i) {
      Model& model = i == 0 ? *cnn : *mlp;
      AttackJobOptions w;
      w.attack = make_attack(m.attack, AttackOptions(o.attack));
      const AttackJobResult white = run_attack(model, data, w);
      EXPECT_EQ(m.success[i][i], white.ev.attack_success_rate) << m.attack << " " << i;
      EXPECT_NEAR(r.clean_accuracy[i], white.ev.clean_accuracy, 1e-12);
    }
    // Transfer is weaker than white box here, and above nothing.
    EXPECT_LT(m.success[0][1], m.success[1][1]) << m.attack;
    EXPECT_GT(m.success[0][1], 0.0) << m.attack;
  }
  for (double v : r.noise_success) {
    EXPECT_GE(v, 0.0);
    EXPECT_LT(v, r.matrices[0].success[0][0]);
  }
  // Crafted on the MLP, judged on the CNN: the attack job's transfer run agrees with the cell.
  AttackJobOptions t;
  t.attack = make_attack("mifgsm", AttackOptions(o.attack));
  t.surrogate = mlp.get();
  const AttackJobResult transfer = run_attack(*cnn, data, t);
  EXPECT_NEAR(transfer.ev.attack_success_rate, r.matrices[0].success[1][0], 1e-12);
  EXPECT_TRUE(transfer.summary["threat"]["crafted_on"].is_string());
  const auto j = r.to_json();
  EXPECT_EQ(j["matrices"][1]["success_rate"][0][1].get<double>(), r.matrices[1].success[0][1]);
  // Models that do not fit together are one line naming both.
  test::LinearModel other(torch::zeros({10, 3 * 32 * 32}), torch::zeros({10}),
                          ImageShape{3, 32, 32});
  EXPECT_THROW(run_transfer({cnn.get(), &other}, data, o), InputError);
}

TEST(Threats, OneRowPerAttackerAtOneBudget) {
  auto cnn = test::cnn_model();
  const Dataset data = open_data("fashion-mnist:test:12", *cnn);
  ThreatOptions t;
  t.threats = parse_threats("white-box,transfer,scores,labels");
  t.surrogates = {small_mlp()};
  t.max_queries = 50;
  t.transfer_steps = 3;
  const auto rows = run_threats(*cnn, data, t, "linf", 0.1, 250, 0, {});
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].threat, "transfer");
  EXPECT_EQ(rows[1].threat, "scores");
  EXPECT_EQ(rows[2].threat, "labels");
  for (const ThreatRow& r : rows) {
    EXPECT_LE(r.robust_accuracy, r.clean_accuracy) << r.threat;
    EXPECT_LE(r.queries, 50) << r.threat;
  }
  EXPECT_EQ(rows[0].queries, 1.0);
  EXPECT_GT(rows[1].queries, 1.0);
  EXPECT_EQ(threats_json(rows).size(), 3u);
  EXPECT_THROW(parse_threats("white-box,oracle"), InputError);
  EXPECT_THROW(parse_threats("labels,labels"), InputError);
  ThreatOptions none;
  none.threats = {"transfer"};
  EXPECT_THROW(check_threat_options(none, *cnn), InputError);
  ThreatOptions itself = t;
  itself.surrogates = {cnn};
  EXPECT_THROW(check_threat_options(itself, *cnn), InputError);
  ThreatOptions zero = t;
  zero.max_queries = 0;
  EXPECT_THROW(check_threat_options(zero, *cnn), InputError);
}

}  // namespace
}  // namespace foil
